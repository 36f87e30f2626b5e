import type { Value } from './value.js';

/** A record: one value per schema field, by position. */
export type Row = readonly Value[];

/** The kinds of operation, as constants. */
export const OpKind = {
  Insert: 'insert',
  Delete: 'delete',
  Update: 'update',
} as const;
export type OpKind = (typeof OpKind)[keyof typeof OpKind];

/** A change to a table: a row appeared, disappeared, or changed from `old` to `new`. */
export type Operation =
  | { readonly kind: 'insert'; readonly new: Row }
  | { readonly kind: 'delete'; readonly old: Row }
  | { readonly kind: 'update'; readonly old: Row; readonly new: Row };

export const insertOp = (row: Row): Operation => ({ kind: 'insert', new: row });
export const deleteOp = (row: Row): Operation => ({ kind: 'delete', old: row });
export const updateOp = (old: Row, row: Row): Operation => ({ kind: 'update', old, new: row });

/**
 * Where in its source a batch ends, as the connector encodes it (an LSN, a
 * binlog file and offset, a file name and row). Opaque to the engine; the
 * connector that wrote it can compare two positions.
 */
export type SourcePosition = string;

/** Operations on one table, in order, with the source position after the last one. */
export interface OpBatch {
  readonly table: string;
  readonly ops: readonly Operation[];
  readonly position: SourcePosition | null;
}

/**
 * A checkpoint barrier: everything before it belongs to epoch `epoch` or
 * earlier, everything after it to later epochs.
 */
export interface Barrier {
  readonly kind: 'barrier';
  readonly epoch: bigint;
}

/** What flows along a DAG edge or a log: batches of operations and barriers. */
export type StreamMessage = { readonly kind: 'batch'; readonly batch: OpBatch } | Barrier;
