import { webcrypto } from 'node:crypto';
import { UINT64_MAX } from '@dozer/core';
import { SnapshotError } from '../errors.js';

/**
 * SHA-256 on the libuv thread pool (WebCrypto), so hashing a large base
 * snapshot does not hold up the event loop that keeps processing.
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes)));
}

export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes));
}

export const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Throws unless `epoch` is a bigint in 0..2^64-1 (it is written as a u64). */
export function checkEpoch(epoch: unknown, what: string): asserts epoch is bigint {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > UINT64_MAX) {
    throw new SnapshotError(`${what}: an epoch must be a bigint in 0..2^64-1, got ${String(epoch)}`);
  }
}

/** The epoch as 20 decimal digits, so that keys sort by epoch. */
export const epochDigits = (epoch: bigint): string => epoch.toString().padStart(20, '0');

/**
 * A growable little-endian byte buffer. Grows by doubling, so encoding N
 * bytes copies at most 2N.
 */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initial));
  }

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A u32 byte length, then the string as UTF-8. */
  lengthPrefixedString(s: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }

  /** A u32 byte length, then the bytes. */
  lengthPrefixedBytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.buf.writeUInt32LE(b.length, this.pos);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }
}

/**
 * Makes an operator id safe as one object key segment: letters, digits,
 * `_` and `-` stay, `.` stays except at the start, everything else becomes
 * `~` and two hex digits per UTF-8 byte. Distinct ids give distinct segments.
 */
export function escapeKeySegment(id: string): string {
  if (typeof id !== 'string' || id === '') {
    throw new SnapshotError(`an operator id must be a non-empty string, got ${JSON.stringify(id)}`);
  }
  let out = '';
  const bytes = Buffer.from(id, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const plain =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x5f ||
      c === 0x2d ||
      (c === 0x2e && i > 0);
    out += plain ? String.fromCharCode(c) : `~${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}
