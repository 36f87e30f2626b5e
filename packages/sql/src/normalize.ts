import { decodeRow, encodeRow, type Operation, type Row, type Schema } from '@dozer/core';
import { keyOf } from './internal/keys.js';
import {
  memoryStateFactory,
  type StateFactory,
  type StateStore,
  type StateValueCodec,
} from './internal/state.js';

/** Version byte of a normalizer's state values: then the row in the core codec's row layout. */
const ROW_VALUE_VERSION = 1;

/** A normalizer's values: a version byte, then `encodeRow` (binary, several times faster than tagged JSON). */
function rowCodec(schema: Schema, table: string): StateValueCodec<Row> {
  return {
    encode(row) {
      const body = encodeRow(schema, row);
      const out = new Uint8Array(body.length + 1);
      out[0] = ROW_VALUE_VERSION;
      out.set(body, 1);
      return out;
    },
    decode(bytes) {
      if (bytes[0] !== ROW_VALUE_VERSION) {
        throw new RangeError(
          `a row of source "${table}" in the checkpoint has format version ${bytes[0] ?? '(empty)'}; this build reads ${ROW_VALUE_VERSION}`,
        );
      }
      return decodeRow(schema, bytes.subarray(1));
    },
  };
}

/**
 * Rewrites the changes of a keyed source table against the rows the
 * pipeline has seen, so that every retraction matches what was emitted
 * before, whatever the source puts in an old row. It keeps the current row
 * of every key (in a state store, checkpointed like operator state), and:
 *
 * - an insert of a key it holds becomes an update of the held row;
 * - an update takes its old row from the held one (an update of a key it
 *   does not hold becomes an insert; a changed key retracts the held row);
 * - a delete retracts the held row, and is dropped when the key is unknown
 *   (nothing was emitted for it).
 *
 * A CDC source that resumes from a position may not know the old rows of
 * rows changed before it (Postgres under REPLICA IDENTITY DEFAULT sends
 * only their key), and a source read again after a restart repeats inserts:
 * behind a normalizer neither corrupts an aggregate or a join.
 */
export interface SourceNormalizer {
  /** The id of its state store: `source/<table>`. */
  readonly stateId: string;
  /** The changes as the pipeline must see them, in order. */
  normalize(ops: readonly Operation[]): Operation[];
}

/**
 * A {@link SourceNormalizer} for a table with a primary key, its state made
 * by `factory` (default: in memory); `undefined` for a table without one
 * (its changes carry whole rows, with nothing to look up).
 */
export function createSourceNormalizer(
  table: string,
  schema: Schema,
  factory: StateFactory = memoryStateFactory,
): SourceNormalizer | undefined {
  const pk = schema.primaryKey;
  if (pk.length === 0) return undefined;
  const stateId = `source/${table}`;
  const rows: StateStore<string, Row> = factory.create(stateId, rowCodec(schema, table));
  return {
    stateId,
    normalize(ops) {
      const out: Operation[] = [];
      for (const op of ops) {
        if (op.kind === 'insert') {
          const k = keyOf(op.new, pk);
          const held = rows.get(k);
          rows.put(k, op.new);
          out.push(held === undefined ? op : { kind: 'update', old: held, new: op.new });
        } else if (op.kind === 'update') {
          const ko = keyOf(op.old, pk);
          const kn = keyOf(op.new, pk);
          const heldOld = rows.get(ko);
          if (ko === kn) {
            rows.put(kn, op.new);
            out.push(
              heldOld === undefined
                ? { kind: 'insert', new: op.new }
                : { kind: 'update', old: heldOld, new: op.new },
            );
            continue;
          }
          // The key changed: the row at the new key (if any) is the one replaced.
          const heldNew = rows.get(kn);
          if (heldOld !== undefined) rows.delete(ko);
          rows.put(kn, op.new);
          if (heldNew !== undefined) {
            if (heldOld !== undefined) out.push({ kind: 'delete', old: heldOld });
            out.push({ kind: 'update', old: heldNew, new: op.new });
          } else {
            out.push(
              heldOld === undefined
                ? { kind: 'insert', new: op.new }
                : { kind: 'update', old: heldOld, new: op.new },
            );
          }
        } else {
          const k = keyOf(op.old, pk);
          const held = rows.get(k);
          if (held === undefined) continue;
          rows.delete(k);
          out.push({ kind: 'delete', old: held });
        }
      }
      return out;
    },
  };
}
