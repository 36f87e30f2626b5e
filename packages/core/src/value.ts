import { compareStrings } from './compare.js';
import { INT64_MAX, INT64_MIN } from './field-type.js';

/** A JSON document as held by a `json` field. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

/**
 * An exact decimal number: `unscaled × 10^-scale`. The scale is kept as
 * given (1.50 stays 1.50), while comparison and equality are numeric.
 */
export class Decimal {
  constructor(
    readonly unscaled: bigint,
    readonly scale: number,
  ) {
    if (!Number.isInteger(scale) || scale < 0 || scale > 76) {
      throw new RangeError(`decimal scale must be an integer in 0..76, got ${scale}`);
    }
  }

  /** Parses `-12.3400`, `5`, `.5`, `1e3`. Throws RangeError on anything else. */
  static parse(text: string): Decimal {
    const fast = parseSmallDecimal(text);
    if (fast !== null) return fast;
    const m = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new RangeError(`not a decimal number: "${text}"`);
    const intPart = m[2] ?? '';
    const frac = m[3] ?? '';
    let scale = frac.length;
    let unscaled = BigInt((intPart + frac).replace(/^0+(?=\d)/, '') || '0');
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    if (exp > 0) {
      if (exp >= scale) {
        unscaled *= 10n ** BigInt(exp - scale);
        scale = 0;
      } else scale -= exp;
    } else if (exp < 0) scale -= exp;
    if (m[1] === '-') unscaled = -unscaled;
    return new Decimal(unscaled, scale);
  }

  /** An integer as a decimal of scale 0. */
  static fromBigInt(v: bigint): Decimal {
    return new Decimal(v, 0);
  }

  /** The shortest exact decimal for a finite double (`0.1` → 0.1). */
  static fromNumber(v: number): Decimal {
    if (!Number.isFinite(v)) throw new RangeError(`cannot convert ${v} to a decimal`);
    return Decimal.parse(String(v));
  }

  toString(): string {
    return formatDecimal(this.unscaled.toString(), this.scale);
  }

  toJSON(): string {
    return this.toString();
  }

  toNumber(): number {
    return Number(this.toString());
  }

  /** The same number at another scale; rounds half away from zero when the scale shrinks. */
  rescale(scale: number): Decimal {
    if (scale === this.scale) return this;
    if (scale > this.scale) return new Decimal(this.unscaled * 10n ** BigInt(scale - this.scale), scale);
    return new Decimal(divRoundHalfAway(this.unscaled, 10n ** BigInt(this.scale - scale)), scale);
  }

  /** Number of significant digits in the unscaled value (at least 1). */
  precision(): number {
    return (this.unscaled < 0n ? -this.unscaled : this.unscaled).toString().length;
  }

  compare(other: Decimal): number {
    const s = Math.max(this.scale, other.scale);
    const a = this.rescale(s).unscaled;
    const b = other.rescale(s).unscaled;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  equals(other: Decimal): boolean {
    return this.compare(other) === 0;
  }

  add(other: Decimal): Decimal {
    const s = Math.max(this.scale, other.scale);
    return new Decimal(this.rescale(s).unscaled + other.rescale(s).unscaled, s);
  }

  sub(other: Decimal): Decimal {
    return this.add(other.neg());
  }

  mul(other: Decimal): Decimal {
    return new Decimal(this.unscaled * other.unscaled, Math.min(76, this.scale + other.scale));
  }

  /** Division rounded half away from zero to `scale` digits (default: max(6, both scales)). */
  div(other: Decimal, scale = Math.max(6, this.scale, other.scale)): Decimal {
    if (other.unscaled === 0n) throw new RangeError('division by zero');
    // a/10^sa ÷ b/10^sb = (a × 10^(scale + sb - sa)) / b  at `scale`
    const shift = scale + other.scale - this.scale;
    const num = shift >= 0 ? this.unscaled * 10n ** BigInt(shift) : this.unscaled;
    const den = shift >= 0 ? other.unscaled : other.unscaled * 10n ** BigInt(-shift);
    return new Decimal(divRoundHalfAway(num, den), scale);
  }

  neg(): Decimal {
    return new Decimal(-this.unscaled, this.scale);
  }

  isZero(): boolean {
    return this.unscaled === 0n;
  }
}

function divRoundHalfAway(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r = num % den;
  if (r === 0n) return q;
  const twiceR = (r < 0n ? -r : r) * 2n;
  const absDen = den < 0n ? -den : den;
  if (twiceR >= absDen) return num < 0n !== den < 0n ? q - 1n : q + 1n;
  return q;
}

/** A UTC instant with microsecond precision: microseconds since 1970-01-01T00:00:00Z. */
export class Timestamp {
  constructor(readonly micros: bigint) {}

  /** Now, at millisecond resolution from the system clock. */
  static now(): Timestamp {
    return new Timestamp(BigInt(Date.now()) * 1000n);
  }

  static fromDate(d: Date): Timestamp {
    const ms = d.getTime();
    if (Number.isNaN(ms)) throw new RangeError('invalid Date');
    return new Timestamp(BigInt(ms) * 1000n);
  }

  static fromMillis(ms: number): Timestamp {
    return new Timestamp(BigInt(Math.trunc(ms)) * 1000n + BigInt(Math.round((ms % 1) * 1000)));
  }

  /**
   * Parses RFC 3339 / ISO 8601 (`2024-01-02T03:04:05.123456Z`, a space for the
   * `T`, an offset such as `+02:00`, or no zone meaning UTC), keeping up to 6
   * fractional digits exactly.
   */
  static parse(text: string): Timestamp {
    const fast = parseCommonTimestamp(text);
    if (fast !== null) return new Timestamp(fast);
    const m =
      /^\s*(-?\d{4,6})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$/.exec(
        text,
      );
    if (!m) throw new RangeError(`not a timestamp: "${text}" (expected e.g. 2024-01-31T12:00:00.000000Z)`);
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
    const month = Number(mo);
    const day = Number(d);
    if (
      month < 1 ||
      month > 12 ||
      day < 1 ||
      day > daysInMonth(Number(y), month) ||
      Number(h) > 23 ||
      Number(mi) > 59 ||
      Number(s) > 59
    ) {
      throw new RangeError(`not a valid timestamp: "${text}"`);
    }
    const days = BigInt(daysFromCivil(Number(y), month, day));
    let micros =
      days * MICROS_PER_DAY +
      (BigInt(h) * 3600n + BigInt(mi) * 60n + BigInt(s)) * MICROS_PER_SECOND +
      BigInt(frac.slice(0, 6).padEnd(6, '0'));
    if (zone && zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1n : 1n;
      const digits = zone.slice(1).replace(':', '');
      const offMin = BigInt(Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
      micros -= sign * offMin * 60n * MICROS_PER_SECOND;
    }
    return new Timestamp(micros);
  }

  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always six fractional digits. */
  toISOString(): string {
    return formatTimestamp(this.micros);
  }

  toString(): string {
    return this.toISOString();
  }

  toJSON(): string {
    return this.toISOString();
  }

  toDate(): Date {
    return new Date(Number(this.micros / 1000n));
  }

  compare(other: Timestamp): number {
    return this.micros < other.micros ? -1 : this.micros > other.micros ? 1 : 0;
  }

  equals(other: Timestamp): boolean {
    return this.micros === other.micros;
  }
}

/** A calendar date: days since 1970-01-01 (negative before). */
export class DateValue {
  constructor(readonly days: number) {
    if (!Number.isSafeInteger(days)) throw new RangeError(`date day number must be an integer, got ${days}`);
  }

  /** Parses `YYYY-MM-DD`. */
  static parse(text: string): DateValue {
    const m = /^\s*(-?\d{4,6})-(\d{2})-(\d{2})\s*$/.exec(text);
    if (!m) throw new RangeError(`not a date: "${text}" (expected YYYY-MM-DD)`);
    const y = Number(m[1]);
    const mo = Number(m[2]);
    const d = Number(m[3]);
    if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo))
      throw new RangeError(`not a valid date: "${text}"`);
    return new DateValue(daysFromCivil(y, mo, d));
  }

  toString(): string {
    const [y, mo, d] = civilFromDays(this.days);
    return `${formatYear(y)}-${pad2(mo)}-${pad2(d)}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** Midnight UTC of this date. */
  toTimestamp(): Timestamp {
    return new Timestamp(BigInt(this.days) * MICROS_PER_DAY);
  }

  compare(other: DateValue): number {
    return this.days - other.days < 0 ? -1 : this.days > other.days ? 1 : 0;
  }

  equals(other: DateValue): boolean {
    return this.days === other.days;
  }
}

/**
 * A span of time as PostgreSQL keeps an interval: months, days and
 * microseconds are separate because their lengths vary. Ordering treats a
 * month as 30 days and a day as 24 hours, as PostgreSQL does.
 */
export class Duration {
  constructor(
    readonly months: number,
    readonly days: number,
    readonly micros: bigint,
  ) {
    if (!Number.isSafeInteger(months) || !Number.isSafeInteger(days)) {
      throw new RangeError('duration months and days must be integers');
    }
  }

  static fromMicros(micros: bigint): Duration {
    return new Duration(0, 0, micros);
  }

  /**
   * Parses ISO 8601 (`P1Y2M3DT4H5M6.5S`, `-PT1S`) and the SQL forms
   * `5 MINUTES`, `1 hour 30 minutes`, `2 days`, `1.5 seconds`.
   */
  static parse(text: string): Duration {
    const iso =
      /^\s*(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,6}))?S)?)?\s*$/i.exec(
        text,
      );
    if (iso && /\d/.test(text)) {
      const [, neg, y, mo, w, d, h, mi, s, frac] = iso;
      const sign = neg ? -1 : 1;
      const months = (Number(y ?? 0) * 12 + Number(mo ?? 0)) * sign;
      const days = (Number(w ?? 0) * 7 + Number(d ?? 0)) * sign;
      const micros =
        (BigInt(h ?? 0) * 3_600_000_000n +
          BigInt(mi ?? 0) * 60_000_000n +
          BigInt(s ?? 0) * MICROS_PER_SECOND +
          BigInt((frac ?? '').padEnd(6, '0') || '0')) *
        BigInt(sign);
      return new Duration(months, days, micros);
    }
    const parts = text.trim().toLowerCase();
    const re = /(-?\d+(?:\.\d+)?)\s*([a-z]+)/g;
    let months = 0;
    let days = 0;
    let micros = 0n;
    let consumed = '';
    let any = false;
    for (let m = re.exec(parts); m; m = re.exec(parts)) {
      any = true;
      consumed += m[0];
      const n = m[1]!;
      const unit = UNIT_ALIASES[m[2]!];
      if (!unit) throw new RangeError(`unknown interval unit "${m[2]}" in "${text}"`);
      if (unit === 'month' || unit === 'year') {
        if (n.includes('.')) throw new RangeError(`fractional ${unit}s are not supported: "${text}"`);
        months += Number(n) * (unit === 'year' ? 12 : 1);
      } else if (unit === 'day' || unit === 'week') {
        if (n.includes('.')) throw new RangeError(`fractional ${unit}s are not supported: "${text}"`);
        days += Number(n) * (unit === 'week' ? 7 : 1);
      } else {
        const d = Decimal.parse(n).mul(new Decimal(UNIT_MICROS[unit]!, 0)).rescale(0);
        micros += d.unscaled;
      }
    }
    if (!any || consumed.replace(/\s/g, '') !== parts.replace(/\s/g, '')) {
      throw new RangeError(`not an interval: "${text}" (expected e.g. '5 MINUTES' or 'PT5M')`);
    }
    return new Duration(months, days, micros);
  }

  /** Microseconds, counting a month as 30 days (for ordering and fixed-size windows). */
  totalMicros(): bigint {
    return (BigInt(this.months) * 30n + BigInt(this.days)) * MICROS_PER_DAY + this.micros;
  }

  /** ISO 8601, e.g. `P1Y2M3DT4H5M6.000007S`; `PT0S` for zero. */
  toString(): string {
    if (this.months === 0 && this.days === 0 && this.micros === 0n) return 'PT0S';
    const allNeg = this.months <= 0 && this.days <= 0 && this.micros <= 0n;
    const sign = allNeg ? '-' : '';
    const f = (n: number) => (allNeg ? -n : n);
    let out = `${sign}P`;
    const y = Math.trunc(f(this.months) / 12);
    const mo = f(this.months) % 12;
    if (y) out += `${y}Y`;
    if (mo) out += `${mo}M`;
    if (this.days) out += `${f(this.days)}D`;
    if (this.micros !== 0n) {
      let us = allNeg ? -this.micros : this.micros;
      const neg = us < 0n;
      if (neg) us = -us;
      const h = us / 3_600_000_000n;
      const mi = (us / 60_000_000n) % 60n;
      const s = (us / MICROS_PER_SECOND) % 60n;
      const fr = us % MICROS_PER_SECOND;
      const n = neg ? '-' : '';
      out += 'T';
      if (h) out += `${n}${h}H`;
      if (mi) out += `${n}${mi}M`;
      if (s || fr) out += `${n}${s}${fr ? `.${fr.toString().padStart(6, '0').replace(/0+$/, '')}` : ''}S`;
    }
    return out;
  }

  toJSON(): string {
    return this.toString();
  }

  compare(other: Duration): number {
    const a = this.totalMicros();
    const b = other.totalMicros();
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** Exact equality of the three parts (so `1 month` ≠ `30 days`, as they add differently). */
  equals(other: Duration): boolean {
    return this.months === other.months && this.days === other.days && this.micros === other.micros;
  }
}

const UNIT_ALIASES: { [k: string]: string } = {};
for (const [unit, aliases] of Object.entries({
  microsecond: ['us', 'usec', 'usecs', 'microsecond', 'microseconds'],
  millisecond: ['ms', 'msec', 'msecs', 'millisecond', 'milliseconds'],
  second: ['s', 'sec', 'secs', 'second', 'seconds'],
  minute: ['m', 'min', 'mins', 'minute', 'minutes'],
  hour: ['h', 'hr', 'hrs', 'hour', 'hours'],
  day: ['d', 'day', 'days'],
  week: ['w', 'week', 'weeks'],
  month: ['mon', 'mons', 'month', 'months'],
  year: ['y', 'yr', 'yrs', 'year', 'years'],
})) {
  for (const a of aliases) UNIT_ALIASES[a] = unit;
}
const UNIT_MICROS: { [k: string]: bigint } = {
  microsecond: 1n,
  millisecond: 1000n,
  second: MICROS_PER_SECOND,
  minute: 60n * MICROS_PER_SECOND,
  hour: 3600n * MICROS_PER_SECOND,
};

/** A point in the plane. */
export class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}

  /** Parses `(1.5,2)` or `1.5,2`. */
  static parse(text: string): Point {
    const m = /^\s*\(?\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)?\s*$/.exec(text);
    const x = m ? Number(m[1]) : Number.NaN;
    const y = m ? Number(m[2]) : Number.NaN;
    if (!m || Number.isNaN(x) || Number.isNaN(y))
      throw new RangeError(`not a point: "${text}" (expected "(x,y)")`);
    return new Point(x, y);
  }

  toString(): string {
    return `(${this.x},${this.y})`;
  }

  toJSON(): { x: number; y: number } {
    return { x: this.x, y: this.y };
  }

  compare(other: Point): number {
    return this.x < other.x ? -1 : this.x > other.x ? 1 : this.y < other.y ? -1 : this.y > other.y ? 1 : 0;
  }

  equals(other: Point): boolean {
    return Object.is(this.x, other.x) && Object.is(this.y, other.y);
  }
}

/**
 * A `json` field's value. Wrapped so that a JSON `null` inside a field is
 * distinct from SQL NULL (the field itself being `null`).
 */
export class Json {
  constructor(readonly value: JsonValue) {}

  static parse(text: string): Json {
    return new Json(JSON.parse(text) as JsonValue);
  }

  toString(): string {
    return JSON.stringify(this.value);
  }

  toJSON(): JsonValue {
    return this.value;
  }

  equals(other: Json): boolean {
    return canonicalJson(this.value) === canonicalJson(other.value);
  }

  /** Code point order of the canonical text (the order of the store's index keys). */
  compare(other: Json): number {
    return compareStrings(canonicalJson(this.value), canonicalJson(other.value));
  }
}

/** JSON text with object keys sorted, so equal documents give equal text. */
export function canonicalJson(v: JsonValue): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k]!)}`).join(',')}}`;
}

/** Any value a field can hold; `null` is SQL NULL. */
export type Value =
  | null
  | bigint
  | number
  | boolean
  | string
  | Uint8Array
  | Decimal
  | Timestamp
  | DateValue
  | Json
  | Duration
  | Point;

/** Checks that a bigint fits in a signed 64-bit integer. */
export function isInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

// Howard Hinnant's civil-date algorithms (public domain), proleptic Gregorian.
/**
 * `-12.34` / `5` / `0.5` with at most 15 digits in all, without a regex and
 * with one BigInt conversion; null for every other shape (the general
 * parser decides). Ingest parses millions of these.
 */
function parseSmallDecimal(text: string): Decimal | null {
  const n = text.length;
  if (n === 0 || n > 17) return null;
  let i = 0;
  let neg = false;
  const c0 = text.charCodeAt(0);
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    i = 1;
  }
  let v = 0;
  let digits = 0;
  let scale = -1;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (scale >= 0) return null;
      scale = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
    digits++;
    if (scale >= 0) scale++;
  }
  // A bare sign or point and `5.` are left to the general parser, which knows their rules.
  if (digits === 0 || digits > 15 || scale === 0) return null;
  const unscaled = BigInt(v);
  return new Decimal(neg ? -unscaled : unscaled, Math.max(scale, 0));
}

/** Two ASCII digits at `i` as a number, or -1. */
function twoDigits(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Microseconds of `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH[:MM]]`, the shape
 * nearly every file and driver writes, read without a regex and with one
 * BigInt conversion; null for any other shape or a year outside
 * 1000..9999 (the general parser decides, with its error messages).
 */
function parseCommonTimestamp(text: string): bigint | null {
  const n = text.length;
  if (n < 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return null;
  const sep = text.charCodeAt(10);
  if ((sep !== 84 && sep !== 32) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const y1 = twoDigits(text, 0);
  const y2 = twoDigits(text, 2);
  const mo = twoDigits(text, 5);
  const d = twoDigits(text, 8);
  const h = twoDigits(text, 11);
  const mi = twoDigits(text, 14);
  const sec = twoDigits(text, 17);
  if (
    y1 < 10 ||
    y2 < 0 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    sec < 0 ||
    sec > 59
  ) {
    return null;
  }
  const y = y1 * 100 + y2;
  if (d > daysInMonth(y, mo)) return null;
  let i = 19;
  let frac = 0;
  if (i < n && text.charCodeAt(i) === 46) {
    i++;
    const start = i;
    while (i < n) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (i - start < 6) frac = frac * 10 + c;
      i++;
    }
    const count = i - start;
    if (count === 0 || count > 9) return null;
    for (let k = Math.min(count, 6); k < 6; k++) frac *= 10;
  }
  let offsetSeconds = 0;
  if (i < n) {
    const z = text.charCodeAt(i);
    if (z === 90 || z === 122) {
      i++;
    } else if (z === 43 || z === 45) {
      const oh = twoDigits(text, i + 1);
      if (oh < 0) return null;
      i += 3;
      let om = 0;
      if (i < n) {
        if (text.charCodeAt(i) === 58) i++;
        om = twoDigits(text, i);
        if (om < 0) return null;
        i += 2;
      }
      offsetSeconds = (z === 45 ? -1 : 1) * (oh * 3600 + om * 60);
    } else return null;
  }
  if (i !== n) return null;
  const seconds = daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offsetSeconds;
  // Exact in a double: |seconds| < 2.6e11 for years 1000..9999, so micros < 2^53 needs |seconds| < 9e9;
  // beyond that (years past 2255 or before 1685) the BigInt arithmetic stays exact.
  if (seconds > -9e9 && seconds < 9e9) return BigInt(seconds * 1_000_000 + frac);
  return BigInt(seconds) * MICROS_PER_SECOND + BigInt(frac);
}

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z0: number): [number, number, number] {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

function pad2(n: number): string {
  return TWO_DIGITS[n] ?? String(n).padStart(2, '0');
}

/**
 * What {@link Decimal#toString} writes for the unscaled integer written as
 * `digits` (decimal, with a leading `-` when negative) at `scale`: for
 * readers that hold the digits as text already (a stored row).
 */
export function formatDecimal(digits: string, scale: number): string {
  if (scale === 0) return digits;
  const neg = digits.charCodeAt(0) === 45; // '-'
  let d = neg ? digits.slice(1) : digits;
  if (d.length <= scale) d = d.padStart(scale + 1, '0');
  const text = `${d.slice(0, d.length - scale)}.${d.slice(d.length - scale)}`;
  return neg ? `-${text}` : text;
}

const MICROS_PER_DAY_N = 86_400_000_000;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * What {@link Timestamp#toISOString} writes for `micros` since the epoch,
 * from a bigint or a safe integer number (a stored row read without making
 * a Timestamp).
 */
export function formatTimestamp(micros: bigint | number): string {
  let days: number;
  let rem: number;
  if (typeof micros === 'number' || (micros >= -MAX_SAFE_BIG && micros <= MAX_SAFE_BIG)) {
    // Exact in doubles: |micros| < 2^53, and so are days * MICROS_PER_DAY and the remainder.
    const m = Number(micros);
    days = Math.floor(m / MICROS_PER_DAY_N);
    rem = m - days * MICROS_PER_DAY_N;
    // The division may round up across a day boundary near the ends of the safe range.
    if (rem < 0) {
      days -= 1;
      rem += MICROS_PER_DAY_N;
    }
  } else {
    let d = micros / MICROS_PER_DAY;
    let r = micros % MICROS_PER_DAY;
    if (r < 0n) {
      r += MICROS_PER_DAY;
      d -= 1n;
    }
    days = Number(d);
    rem = Number(r);
  }
  const [y, mo, d] = civilFromDays(days);
  const secs = Math.floor(rem / 1_000_000);
  const frac = rem - secs * 1_000_000;
  return `${formatYear(y)}-${pad2(mo)}-${pad2(d)}T${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}.${String(frac).padStart(6, '0')}Z`;
}

function formatYear(y: number): string {
  return y < 0 ? `-${String(-y).padStart(4, '0')}` : String(y).padStart(4, '0');
}
