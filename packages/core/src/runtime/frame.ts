import { CodecError } from '../errors.js';

/**
 * Frame format version 1: what one postMessage between two threads carries,
 * as one transferable ArrayBuffer. `u8 1` (version), then records until
 * the end: `varint edge id`, `varint length`, then `length` bytes of one
 * core-codec stream message (a batch or a barrier) for that edge, written
 * with the schema of the edge's source port. Records of an edge are in the
 * order they were emitted.
 */
export const FRAME_FORMAT_VERSION = 1;

/** Collects records for one destination thread until they are cut into a frame. */
export class FrameWriter {
  private parts: Uint8Array[] = [];
  private heads: number[] = [];
  /** Bytes the frame will have. */
  size = 1;

  get empty(): boolean {
    return this.parts.length === 0;
  }

  add(edge: number, bytes: Uint8Array): void {
    this.heads.push(edge, bytes.length);
    this.parts.push(bytes);
    this.size += varintSize(edge) + varintSize(bytes.length) + bytes.length;
  }

  /** The frame, and an empty writer for the next one. */
  finish(): ArrayBuffer {
    const out = new Uint8Array(this.size);
    out[0] = FRAME_FORMAT_VERSION;
    let pos = 1;
    for (let i = 0; i < this.parts.length; i++) {
      pos = writeVarint(out, pos, this.heads[2 * i]!);
      pos = writeVarint(out, pos, this.heads[2 * i + 1]!);
      out.set(this.parts[i]!, pos);
      pos += this.parts[i]!.length;
    }
    this.parts = [];
    this.heads = [];
    this.size = 1;
    return out.buffer;
  }
}

/** Calls `each` with every record of a frame, in order. */
export function readFrame(frame: ArrayBuffer, each: (edge: number, bytes: Uint8Array) => void): void {
  const buf = new Uint8Array(frame);
  if (buf[0] !== FRAME_FORMAT_VERSION) {
    throw new CodecError(
      `runtime frame has format version ${buf[0]}; this build reads ${FRAME_FORMAT_VERSION} (are all threads running the same build?)`,
    );
  }
  let pos = 1;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length)
        throw new CodecError(`runtime frame truncated at byte ${pos} inside a record header`);
      const b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const edge = varint();
    const len = varint();
    if (pos + len > buf.length) {
      throw new CodecError(`runtime frame truncated: a record of ${len} bytes at byte ${pos} passes its end`);
    }
    each(edge, buf.subarray(pos, pos + len));
    pos += len;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}
