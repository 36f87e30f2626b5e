/**
 * A seeded pseudo-random generator (sfc32, seeded through splitmix32).
 * Only integer arithmetic and exact IEEE operations are used, so a seed
 * gives the same numbers on every machine and Node version; `Math.random`
 * and transcendental functions are avoided on purpose.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform integer in 0 .. 2^32-1. */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in 0 .. n-1 (n ≥ 1). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in min .. max, both included. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** A uniform bigint in min .. max, both included. */
  bigBetween(min: bigint, max: bigint): bigint {
    const span = max - min + 1n;
    if (span <= 9007199254740992n) return min + BigInt(this.below(Number(span)));
    // Wide ranges: draw 64 random bits per step; the tiny modulo bias is fine for test data.
    let r = 0n;
    for (let bits = 0n; 1n << bits < span * 2n; bits += 32n) r = (r << 32n) | BigInt(this.uint32());
    return min + (r % span);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** FNV-1a of a string mixed with a seed, to give each table its own stream. */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  h = Math.imul(h ^ Math.floor(seed / 4294967296), 0x01000193) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h;
}
