/**
 * Checkpoint manifests, format version 1.
 *
 * The manifest of epoch E says what a restart from E needs: each source's
 * position, each operator's chain of state objects, the store's epoch. It
 * is written after every object it references, so a checkpoint whose
 * manifest exists is complete (and one without a manifest does not exist).
 * All fixed-width numbers are little-endian.
 *
 *   offset  size  field
 *   0       4     magic "DZCK" (0x44 0x5A 0x43 0x4B)
 *   4       2     u16 format version = 1
 *   6       2     u16 flags = 0 (reserved; a reader rejects other values)
 *   8       8     u64 epoch (the same as in the body and in the object key)
 *   16      4     u32 body length L
 *   20      L     body: UTF-8 JSON, below
 *   20+L    32    SHA-256 of every byte before it
 *
 * Body (u64 numbers are decimal strings, JSON numbers cannot carry them):
 *
 *   {
 *     "epoch": "42",
 *     "createdAt": "2026-12-02T06:41:22.123Z",
 *     "storeEpoch": "42",                       // or null: no store took part
 *     "sources": { "orders": "0/16B3748" },      // source name → opaque position
 *     "operators": {                             // operator id → state chain
 *       "join-1": [
 *         { "key": "checkpoints/state/join-1/00000000000000000040-1a2b3c4d.base",
 *           "kind": "base", "epoch": "40", "bytes": 123456, "sha256": "<64 hex>" },
 *         { "key": "…/00000000000000000042-5e6f7a8b.delta",
 *           "kind": "delta", "epoch": "42", "bytes": 2048, "sha256": "<64 hex>" }
 *       ]
 *     }
 *   }
 *
 * A chain is a base followed by deltas in increasing epoch order, or a
 * single blob; no object is of a later epoch than the manifest. Readers
 * reject missing fields, wrong types, a version other than theirs and any
 * checksum mismatch; they ignore fields they do not know.
 */
import { type SourcePosition, validateObjectKey } from '@dozer/core';
import { CheckpointCorruptError, SnapshotError } from './errors.js';
import { asBuffer, checkEpoch, hex, sha256 } from './internal/bytes.js';
import type { StateObjectKind, StateObjectRef } from './state-object.js';

/** The manifest format version this build writes and reads. */
export const MANIFEST_FORMAT_VERSION = 1;

const MAGIC = [0x44, 0x5a, 0x43, 0x4b] as const;
const HEADER = 20;
const TRAILER = 32;

/** What a restart from one checkpoint needs. */
export interface CheckpointManifest {
  /** The checkpoint's epoch: everything before barrier `epoch` is in it, nothing after. */
  readonly epoch: bigint;
  /** When the manifest was written. */
  readonly createdAt: Date;
  /** The epoch the store committed with this checkpoint; `null` when no store took part. */
  readonly storeEpoch: bigint | null;
  /** Each source's position at the barrier (opaque, as its connector wrote it). */
  readonly sources: ReadonlyMap<string, SourcePosition>;
  /** Each operator's state: a base and its deltas in order, or one blob. */
  readonly operators: ReadonlyMap<string, readonly StateObjectRef[]>;
}

/** Encodes a manifest as {@link MANIFEST_FORMAT_VERSION} bytes, checksum included. */
export async function encodeManifest(m: CheckpointManifest): Promise<Uint8Array> {
  checkEpoch(m.epoch, 'encodeManifest');
  if (m.storeEpoch !== null) checkEpoch(m.storeEpoch, 'encodeManifest: storeEpoch');
  if (!(m.createdAt instanceof Date) || Number.isNaN(m.createdAt.getTime())) {
    throw new SnapshotError(`encodeManifest: createdAt must be a valid Date, got ${String(m.createdAt)}`);
  }
  const sources: Record<string, string> = {};
  for (const [name, pos] of m.sources) {
    if (typeof pos !== 'string') {
      throw new SnapshotError(`encodeManifest: the position of source "${name}" must be a string`);
    }
    Object.defineProperty(sources, name, {
      value: pos,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const operators: Record<string, unknown> = {};
  for (const [id, chain] of m.operators) {
    checkChainRefs(chain, m.epoch, `operator "${id}"`, (d) => new SnapshotError(`encodeManifest: ${d}`));
    const refs = chain.map((r) => ({
      key: r.key,
      kind: r.kind,
      epoch: r.epoch.toString(),
      bytes: r.bytes,
      sha256: r.sha256,
    }));
    Object.defineProperty(operators, id, {
      value: refs,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const body = Buffer.from(
    JSON.stringify({
      epoch: m.epoch.toString(),
      createdAt: m.createdAt.toISOString(),
      storeEpoch: m.storeEpoch === null ? null : m.storeEpoch.toString(),
      sources,
      operators,
    }),
    'utf8',
  );
  const file = Buffer.allocUnsafe(HEADER + body.length + TRAILER);
  file.set(MAGIC, 0);
  file.writeUInt16LE(MANIFEST_FORMAT_VERSION, 4);
  file.writeUInt16LE(0, 6);
  file.writeBigUInt64LE(m.epoch, 8);
  file.writeUInt32LE(body.length, 16);
  file.set(body, HEADER);
  file.set(await sha256(file.subarray(0, HEADER + body.length)), HEADER + body.length);
  return file;
}

/**
 * Verifies and decodes a manifest read from `key`. Throws
 * {@link CheckpointCorruptError} naming what is wrong (checksum, magic,
 * version, a body that does not validate, an epoch that differs from
 * `expectEpoch`).
 */
export async function decodeManifest(
  key: string,
  file: Uint8Array,
  expectEpoch?: bigint,
): Promise<CheckpointManifest> {
  const bad = (detail: string) => new CheckpointCorruptError(key, detail);
  if (file.length < HEADER + TRAILER) throw bad(`${file.length} bytes is shorter than the smallest manifest`);
  const buf = asBuffer(file);
  const bodyEnd = file.length - TRAILER;
  if (hex(await sha256(file.subarray(0, bodyEnd))) !== hex(file.subarray(bodyEnd))) {
    throw bad('SHA-256 checksum mismatch (the manifest was damaged or cut short)');
  }
  if (file[0] !== MAGIC[0] || file[1] !== MAGIC[1] || file[2] !== MAGIC[2] || file[3] !== MAGIC[3]) {
    throw bad('not a Dozer checkpoint manifest (magic bytes are not "DZCK")');
  }
  const version = buf.readUInt16LE(4);
  if (version !== MANIFEST_FORMAT_VERSION) {
    throw bad(
      `format version ${version}; this build of @dozer/snapshot reads version ${MANIFEST_FORMAT_VERSION} ` +
        '(upgrade the reader to the writer’s version)',
    );
  }
  const flags = buf.readUInt16LE(6);
  if (flags !== 0) throw bad(`unknown flags 0x${flags.toString(16)}`);
  const headerEpoch = buf.readBigUInt64LE(8);
  const bodyLen = buf.readUInt32LE(16);
  if (HEADER + bodyLen !== bodyEnd) throw bad(`body length ${bodyLen} does not match the object size`);
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8', HEADER, bodyEnd));
  } catch (e) {
    throw bad(`its body is not JSON: ${(e as Error).message}`);
  }
  const m = parseBody(json, (d) => bad(d));
  if (m.epoch !== headerEpoch) throw bad(`its header says epoch ${headerEpoch} but its body ${m.epoch}`);
  if (expectEpoch !== undefined && m.epoch !== expectEpoch) {
    throw bad(`it holds epoch ${m.epoch} but its key says ${expectEpoch}`);
  }
  return m;
}

type Bad = (detail: string) => Error;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function u64(v: unknown, what: string, bad: Bad): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v) || BigInt(v) > 0xffffffffffffffffn) {
    throw bad(`${what} must be a decimal u64 string, got ${JSON.stringify(v)}`);
  }
  return BigInt(v);
}

const KINDS: readonly string[] = ['base', 'delta', 'blob'];

function parseBody(json: unknown, bad: Bad): CheckpointManifest {
  if (!isRecord(json)) throw bad('its body is not a JSON object');
  const epoch = u64(json.epoch, '"epoch"', bad);
  if (typeof json.createdAt !== 'string' || Number.isNaN(Date.parse(json.createdAt))) {
    throw bad(`"createdAt" must be an ISO date string, got ${JSON.stringify(json.createdAt)}`);
  }
  const storeEpoch = json.storeEpoch === null ? null : u64(json.storeEpoch, '"storeEpoch"', bad);
  if (!isRecord(json.sources)) throw bad('"sources" must be an object of source name → position');
  const sources = new Map<string, SourcePosition>();
  for (const [name, pos] of Object.entries(json.sources)) {
    if (typeof pos !== 'string') throw bad(`the position of source "${name}" must be a string`);
    sources.set(name, pos);
  }
  if (!isRecord(json.operators)) throw bad('"operators" must be an object of operator id → state chain');
  const operators = new Map<string, StateObjectRef[]>();
  for (const [id, chain] of Object.entries(json.operators)) {
    if (!Array.isArray(chain))
      throw bad(`the state of operator "${id}" must be an array of object references`);
    const refs = chain.map((r, i): StateObjectRef => {
      const what = `object ${i} of operator "${id}"`;
      if (!isRecord(r)) throw bad(`${what} is not an object`);
      if (typeof r.key !== 'string') throw bad(`${what}: "key" must be a string`);
      try {
        validateObjectKey(r.key);
      } catch (e) {
        throw bad(`${what}: ${(e as Error).message}`);
      }
      if (typeof r.kind !== 'string' || !KINDS.includes(r.kind)) {
        throw bad(`${what}: "kind" must be one of ${KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
      }
      if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 64) {
        throw bad(`${what}: "bytes" must be an integer of at least 64, got ${JSON.stringify(r.bytes)}`);
      }
      if (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) {
        throw bad(`${what}: "sha256" must be 64 lowercase hex digits`);
      }
      return {
        key: r.key,
        kind: r.kind as StateObjectKind,
        epoch: u64(r.epoch, `${what}: "epoch"`, bad),
        bytes: r.bytes,
        sha256: r.sha256,
      };
    });
    checkChainRefs(refs, epoch, `operator "${id}"`, bad);
    operators.set(id, refs);
  }
  return { epoch, createdAt: new Date(json.createdAt), storeEpoch, sources, operators };
}

/** The shape of a chain as the manifest states it (the objects themselves are checked when read). */
function checkChainRefs(chain: readonly StateObjectRef[], epoch: bigint, where: string, bad: Bad): void {
  if (chain.length === 0) throw bad(`${where} has an empty state chain`);
  const first = chain[0]!;
  if (first.kind === 'delta') throw bad(`${where}: its state chain starts with a delta instead of a base`);
  if (first.kind === 'blob' && chain.length > 1) throw bad(`${where}: a blob cannot be followed by deltas`);
  for (let i = 0; i < chain.length; i++) {
    const r = chain[i]!;
    if (r.epoch > epoch)
      throw bad(`${where}: object "${r.key}" is of epoch ${r.epoch}, after the checkpoint's`);
    if (i > 0) {
      if (r.kind !== 'delta')
        throw bad(`${where}: object ${i} of its state chain is a ${r.kind}, not a delta`);
      if (r.epoch <= chain[i - 1]!.epoch) throw bad(`${where}: its state chain's epochs do not increase`);
    }
  }
}
