import { DateValue, Decimal, Duration, type FieldType, Timestamp, type Value } from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import { checkRange } from './cast.js';
import type { ArithOp } from './expr.js';

/** A binary operation on two non-null values. */
export type BinaryFn = (a: Value, b: Value) => Value;

const MICROS_PER_DAY = 86_400_000_000n;

function divisionByZero(where: string): never {
  throw new SqlEvalError(`division by zero ${where}`);
}

/**
 * The implementation of `left op right` for operands of the given types
 * (already converted by the binder to what {@link arithmeticTypes} asks).
 */
export function makeArith(
  op: ArithOp,
  result: FieldType,
  left: FieldType,
  right: FieldType,
  where: string,
): BinaryFn {
  if (result === 'int' || result === 'uint') {
    if (left === 'date' && right === 'date') {
      return (a, b) => BigInt((a as DateValue).days - (b as DateValue).days);
    }
    return integerOp(op, result, where);
  }
  if (result === 'float') return floatOp(op, where);
  if (result === 'decimal') return decimalOp(op, where);
  return temporalOp(op, left, right, where);
}

function integerOp(op: ArithOp, type: 'int' | 'uint', where: string): BinaryFn {
  switch (op) {
    case '+':
      return (a, b) => checkRange((a as bigint) + (b as bigint), type, where);
    case '-':
      return (a, b) => checkRange((a as bigint) - (b as bigint), type, where);
    case '*':
      return (a, b) => checkRange((a as bigint) * (b as bigint), type, where);
    case '/':
      // BigInt division truncates toward zero, as PostgreSQL's integer division does.
      return (a, b) =>
        b === 0n ? divisionByZero(where) : checkRange((a as bigint) / (b as bigint), type, where);
    case '%':
      return (a, b) => (b === 0n ? divisionByZero(where) : (a as bigint) % (b as bigint));
  }
}

function floatOp(op: ArithOp, where: string): BinaryFn {
  const finite = (a: number, b: number, r: number): number => {
    if (!Number.isFinite(r) && Number.isFinite(a) && Number.isFinite(b)) {
      throw new SqlEvalError(`float value out of range: overflow ${where}`);
    }
    return r;
  };
  switch (op) {
    case '+':
      return (a, b) => finite(a as number, b as number, (a as number) + (b as number));
    case '-':
      return (a, b) => finite(a as number, b as number, (a as number) - (b as number));
    case '*':
      return (a, b) => finite(a as number, b as number, (a as number) * (b as number));
    case '/':
      return (a, b) =>
        b === 0 ? divisionByZero(where) : finite(a as number, b as number, (a as number) / (b as number));
    case '%':
      return (a, b) => (b === 0 ? divisionByZero(where) : (a as number) % (b as number));
  }
}

function decimalOp(op: ArithOp, where: string): BinaryFn {
  switch (op) {
    case '+':
      return (a, b) => (a as Decimal).add(b as Decimal);
    case '-':
      return (a, b) => (a as Decimal).sub(b as Decimal);
    case '*':
      return (a, b) => (a as Decimal).mul(b as Decimal);
    case '/':
      return (a, b) => ((b as Decimal).isZero() ? divisionByZero(where) : (a as Decimal).div(b as Decimal));
    case '%':
      return (a, b) => {
        const x = a as Decimal;
        const y = b as Decimal;
        if (y.isZero()) divisionByZero(where);
        const s = Math.max(x.scale, y.scale);
        // Truncated remainder (sign of the dividend), as PostgreSQL's numeric %.
        return new Decimal(x.rescale(s).unscaled % y.rescale(s).unscaled, s);
      };
  }
}

function temporalOp(op: ArithOp, left: FieldType, right: FieldType, where: string): BinaryFn {
  const key = `${left} ${op} ${right}`;
  switch (key) {
    case 'timestamp + duration':
      return (a, b) => addDuration(a as Timestamp, b as Duration, 1, where);
    case 'duration + timestamp':
      return (a, b) => addDuration(b as Timestamp, a as Duration, 1, where);
    case 'timestamp - duration':
      return (a, b) => addDuration(a as Timestamp, b as Duration, -1, where);
    case 'date + duration':
      return (a, b) => addDuration((a as DateValue).toTimestamp(), b as Duration, 1, where);
    case 'duration + date':
      return (a, b) => addDuration((b as DateValue).toTimestamp(), a as Duration, 1, where);
    case 'date - duration':
      return (a, b) => addDuration((a as DateValue).toTimestamp(), b as Duration, -1, where);
    case 'timestamp - timestamp':
      return (a, b) => {
        // PostgreSQL splits the difference into whole days and the rest.
        const diff = (a as Timestamp).micros - (b as Timestamp).micros;
        return new Duration(0, Number(diff / MICROS_PER_DAY), diff % MICROS_PER_DAY);
      };
    case 'date + int':
      return (a, b) => new DateValue((a as DateValue).days + Number(b as bigint));
    case 'int + date':
      return (a, b) => new DateValue((b as DateValue).days + Number(a as bigint));
    case 'date - int':
      return (a, b) => new DateValue((a as DateValue).days - Number(b as bigint));
    case 'duration + duration':
    case 'duration - duration': {
      const s = op === '+' ? 1 : -1;
      return (a, b) => {
        const x = a as Duration;
        const y = b as Duration;
        return new Duration(x.months + s * y.months, x.days + s * y.days, x.micros + BigInt(s) * y.micros);
      };
    }
  }
  throw new SqlEvalError(`operator ${op} does not apply to ${left} and ${right} ${where}`);
}

/**
 * `ts ± d`: months first (clamping the day to the month's length, so
 * Jan 31 + 1 month = Feb 28/29, as PostgreSQL), then days, then micros.
 */
function addDuration(ts: Timestamp, d: Duration, sign: 1 | -1, where: string): Timestamp {
  let micros = ts.micros;
  if (d.months !== 0) {
    let days = micros / MICROS_PER_DAY;
    let rem = micros % MICROS_PER_DAY;
    if (rem < 0n) {
      rem += MICROS_PER_DAY;
      days -= 1n;
    }
    const date = new Date(Number(days) * 86_400_000);
    if (Number.isNaN(date.getTime())) throw new SqlEvalError(`timestamp out of range ${where}`);
    const total = date.getUTCFullYear() * 12 + date.getUTCMonth() + sign * d.months;
    const year = Math.floor(total / 12);
    const month = total - year * 12;
    const newDays = Math.round(
      utcMillis(year, month, Math.min(date.getUTCDate(), utcMillisDay(year, month + 1, 0))) / 86_400_000,
    );
    micros = BigInt(newDays) * MICROS_PER_DAY + rem;
  }
  micros += BigInt(sign) * (BigInt(d.days) * MICROS_PER_DAY + d.micros);
  return new Timestamp(micros);
}

// Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear does not.
function utcDate(year: number, month: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  return d;
}

function utcMillis(year: number, month: number, day: number): number {
  return utcDate(year, month, day).getTime();
}

function utcMillisDay(year: number, month: number, day: number): number {
  return utcDate(year, month, day).getUTCDate();
}
