import { compareValues, Decimal, type FieldType, INT64_MIN, type Value } from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import { valueToText } from './cast.js';
import type { Evaluator, Expr, SqlType } from './expr.js';
import { timeJsonFunctions } from './time-json-functions.js';
import { isInteger, isNumeric, isText } from './type-rules.js';

/** What a function needs from the binder while checking its arguments. */
export interface BindContext {
  /** Throws a SqlError pointing at the call. */
  fail(message: string, hint?: string): never;
  /** Brings all arguments to one type (CASE-like), or fails naming `what`. */
  unify(args: readonly Expr[], what: string): { type: SqlType; args: Expr[] };
}

export interface BoundCall {
  readonly type: SqlType;
  readonly nullable: boolean;
  readonly args: readonly Expr[];
}

/** A scalar function: how it types its arguments, and how it runs. */
export interface FunctionDef {
  /** How the function is called, for error messages. */
  readonly signature: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  bind(args: readonly Expr[], cx: BindContext): BoundCall;
  compile(args: readonly Evaluator[], bound: readonly Expr[], where: string): Evaluator;
}

const anyNullable = (args: readonly Expr[]): boolean => args.some((a) => a.nullable);

function requireArg(
  cx: BindContext,
  sig: string,
  e: Expr,
  i: number,
  ok: (t: SqlType) => boolean,
  want: string,
): void {
  if (e.type !== 'null' && !ok(e.type)) {
    cx.fail(
      `function ${sig.split('(')[0]} expects ${want} as argument ${i + 1}, got ${e.type}`,
      `usage: ${sig}`,
    );
  }
}

const textOrNull = (t: SqlType): boolean => isText(t);
const intOrNull = (t: SqlType): boolean => isInteger(t);

/** Result text type of a function over text arguments: text if any is text. */
function textResult(args: readonly Expr[]): FieldType {
  return args.some((a) => a.type === 'text') ? 'text' : 'string';
}

/** Null in, null out: the common case. */
function strict(args: readonly Evaluator[], f: (vals: Value[]) => Value): Evaluator {
  if (args.length === 1) {
    const a = args[0]!;
    return (row) => {
      const v = a(row);
      return v === null ? null : f([v]);
    };
  }
  return (row) => {
    const vals: Value[] = [];
    for (const a of args) {
      const v = a(row);
      if (v === null) return null;
      vals.push(v);
    }
    return f(vals);
  };
}

function textFn(sig: string, f: (s: string) => Value, result: 'same' | FieldType): FunctionDef {
  return {
    signature: sig,
    minArgs: 1,
    maxArgs: 1,
    bind(args, cx) {
      requireArg(cx, sig, args[0]!, 0, textOrNull, 'a string');
      return { type: result === 'same' ? textResult(args) : result, nullable: anyNullable(args), args };
    },
    compile: (args) => strict(args, (v) => f(v[0] as string)),
  };
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

function trimFn(sig: string, left: boolean, right: boolean): FunctionDef {
  return {
    signature: sig,
    minArgs: 1,
    maxArgs: 2,
    bind(args, cx) {
      for (const [i, a] of args.entries()) requireArg(cx, sig, a, i, textOrNull, 'a string');
      return { type: textResult(args.slice(0, 1)), nullable: anyNullable(args), args };
    },
    compile: (args) =>
      strict(args, (v) => {
        const s = [...(v[0] as string)];
        const set = new Set(v.length > 1 ? [...(v[1] as string)] : [' ']);
        let a = 0;
        let b = s.length;
        if (left) while (a < b && set.has(s[a]!)) a++;
        if (right) while (b > a && set.has(s[b - 1]!)) b--;
        return s.slice(a, b).join('');
      }),
  };
}

function numericFn(sig: string, impl: (t: SqlType, v: Value, where: string) => Value): FunctionDef {
  return {
    signature: sig,
    minArgs: 1,
    maxArgs: 1,
    bind(args, cx) {
      requireArg(cx, sig, args[0]!, 0, isNumeric, 'a number');
      const t = args[0]!.type === 'null' ? 'int' : args[0]!.type;
      return { type: t, nullable: anyNullable(args), args };
    },
    compile: (args, bound, where) => {
      const t = bound[0]!.type;
      return strict(args, (v) => impl(t, v[0]!, where));
    },
  };
}

function floorDecimal(d: Decimal, up: boolean): Decimal {
  const s = 10n ** BigInt(d.scale);
  let q = d.unscaled / s;
  const r = d.unscaled % s;
  if (r !== 0n && r < 0n !== up) q += up ? 1n : -1n;
  return new Decimal(q, 0);
}

/** Half away from zero at `digits` after the point (negative: before it), as PostgreSQL's round(numeric, int). */
function roundDecimal(d: Decimal, digits: number): Decimal {
  if (digits >= 0) return d.rescale(Math.min(digits, 76));
  const shift = -digits;
  const r = new Decimal(d.unscaled, Math.min(76, d.scale + shift)).rescale(0);
  return new Decimal(r.unscaled * 10n ** BigInt(shift), 0);
}

/** Round half to even for floats, as PostgreSQL's round(double precision) on common platforms. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const FUNCTIONS: { readonly [name: string]: FunctionDef } = {
  ...timeJsonFunctions(),
  upper: textFn('upper(string)', (s) => s.toUpperCase(), 'same'),
  lower: textFn('lower(string)', (s) => s.toLowerCase(), 'same'),
  length: {
    signature: 'length(string | binary)',
    minArgs: 1,
    maxArgs: 1,
    bind(args, cx) {
      requireArg(cx, this.signature, args[0]!, 0, (t) => isText(t) || t === 'binary', 'a string or binary');
      return { type: 'int', nullable: anyNullable(args), args };
    },
    compile: (args) =>
      strict(args, (v) =>
        BigInt(typeof v[0] === 'string' ? codePointLength(v[0]) : (v[0] as Uint8Array).length),
      ),
  },
  concat: {
    signature: 'concat(value, ...)',
    minArgs: 1,
    maxArgs: Number.POSITIVE_INFINITY,
    bind: (args) => ({ type: textResult(args), nullable: false, args }),
    compile: (args) => (row) => {
      // Unlike ||, CONCAT skips NULLs, as in PostgreSQL.
      let out = '';
      for (const a of args) {
        const v = a(row);
        if (v !== null) out += valueToText(v);
      }
      return out;
    },
  },
  substring: {
    signature: 'substring(string, start [, length])',
    minArgs: 2,
    maxArgs: 3,
    bind(args, cx) {
      requireArg(cx, this.signature, args[0]!, 0, textOrNull, 'a string');
      requireArg(cx, this.signature, args[1]!, 1, intOrNull, 'an integer');
      if (args[2]) requireArg(cx, this.signature, args[2], 2, intOrNull, 'an integer');
      return { type: textResult(args.slice(0, 1)), nullable: anyNullable(args), args };
    },
    compile: (args, _bound, where) =>
      strict(args, (v) => {
        const chars = [...(v[0] as string)];
        const start = Number(v[1] as bigint);
        let end = chars.length + 1;
        if (v.length > 2) {
          const len = Number(v[2] as bigint);
          if (len < 0) throw new SqlEvalError(`negative substring length not allowed ${where}`);
          end = start + len;
        }
        // 1-based; a start before 1 eats into the length, as in PostgreSQL.
        return chars.slice(Math.max(start, 1) - 1, Math.max(end, 1) - 1).join('');
      }),
  },
  trim: trimFn('trim(string [, characters])', true, true),
  btrim: trimFn('btrim(string [, characters])', true, true),
  ltrim: trimFn('ltrim(string [, characters])', true, false),
  rtrim: trimFn('rtrim(string [, characters])', false, true),
  replace: {
    signature: 'replace(string, from, to)',
    minArgs: 3,
    maxArgs: 3,
    bind(args, cx) {
      for (const [i, a] of args.entries()) requireArg(cx, this.signature, a, i, textOrNull, 'a string');
      return { type: textResult(args.slice(0, 1)), nullable: anyNullable(args), args };
    },
    compile: (args) =>
      strict(args, (v) => {
        const from = v[1] as string;
        return from === '' ? v[0]! : (v[0] as string).split(from).join(v[2] as string);
      }),
  },
  split_part: {
    signature: 'split_part(string, delimiter, n)',
    minArgs: 3,
    maxArgs: 3,
    bind(args, cx) {
      requireArg(cx, this.signature, args[0]!, 0, textOrNull, 'a string');
      requireArg(cx, this.signature, args[1]!, 1, textOrNull, 'a string');
      requireArg(cx, this.signature, args[2]!, 2, intOrNull, 'an integer');
      const n = args[2]!;
      if (n.kind === 'literal' && n.value === 0n) cx.fail('split_part field position must not be zero');
      return { type: textResult(args.slice(0, 1)), nullable: anyNullable(args), args };
    },
    compile: (args, _bound, where) =>
      strict(args, (v) => {
        const s = v[0] as string;
        const delim = v[1] as string;
        const n = v[2] as bigint;
        if (n === 0n) throw new SqlEvalError(`split_part field position must not be zero ${where}`);
        // As PostgreSQL: fields counted from 1, negative from the end; out of range is ''.
        const parts = delim === '' ? (s === '' ? [] : [s]) : s.split(delim);
        const i = n > 0n ? Number(n) - 1 : parts.length + Number(n);
        return i >= 0 && i < parts.length ? parts[i]! : '';
      }),
  },
  abs: numericFn('abs(number)', (t, v, where) => {
    if (t === 'float') return Math.abs(v as number);
    if (t === 'decimal') return (v as Decimal).unscaled < 0n ? (v as Decimal).neg() : v;
    const b = v as bigint;
    if (b === INT64_MIN && t === 'int') throw new SqlEvalError(`integer out of range: abs(${b}) ${where}`);
    return b < 0n ? -b : b;
  }),
  floor: numericFn('floor(number)', (t, v) =>
    t === 'float' ? Math.floor(v as number) : t === 'decimal' ? floorDecimal(v as Decimal, false) : v,
  ),
  ceil: numericFn('ceil(number)', (t, v) =>
    t === 'float' ? Math.ceil(v as number) : t === 'decimal' ? floorDecimal(v as Decimal, true) : v,
  ),
  round: {
    signature: 'round(number [, digits])',
    minArgs: 1,
    maxArgs: 2,
    bind(args, cx) {
      requireArg(cx, this.signature, args[0]!, 0, isNumeric, 'a number');
      if (args[1]) requireArg(cx, this.signature, args[1], 1, intOrNull, 'an integer');
      const t = args[0]!.type === 'null' ? 'int' : args[0]!.type;
      const type: SqlType = args.length === 1 || t === 'float' ? t : 'decimal';
      return { type, nullable: anyNullable(args), args };
    },
    compile: (args, bound) => {
      const t = bound[0]!.type;
      if (args.length === 1) {
        return strict(args, ([v]) =>
          t === 'float' ? roundHalfEven(v as number) : t === 'decimal' ? roundDecimal(v as Decimal, 0) : v!,
        );
      }
      return strict(args, ([v, d]) => {
        const digits = Number(d as bigint);
        if (t === 'float') {
          const x = v as number;
          return Number.isFinite(x) ? roundDecimal(Decimal.fromNumber(x), digits).toNumber() : x;
        }
        const dec = t === 'decimal' ? (v as Decimal) : Decimal.fromBigInt(v as bigint);
        return roundDecimal(dec, digits);
      });
    },
  },
  coalesce: {
    signature: 'coalesce(value, ...)',
    minArgs: 1,
    maxArgs: Number.POSITIVE_INFINITY,
    bind(args, cx) {
      const u = cx.unify(args, 'COALESCE arguments');
      return { type: u.type, nullable: args.every((a) => a.nullable), args: u.args };
    },
    compile: (args) => (row) => {
      for (const a of args) {
        const v = a(row);
        if (v !== null) return v;
      }
      return null;
    },
  },
  nullif: {
    signature: 'nullif(value, value)',
    minArgs: 2,
    maxArgs: 2,
    bind(args, cx) {
      const u = cx.unify(args, 'NULLIF arguments');
      return { type: u.type, nullable: true, args: u.args };
    },
    compile: ([a, b], bound) => {
      const t = bound[0]!.type;
      return (row) => {
        const x = a!(row);
        if (x === null || t === 'null') return x;
        const y = b!(row);
        return y !== null && compareValues(t, x, y) === 0 ? null : x;
      };
    },
  },
};

/** The function called `name` (case-insensitive), or undefined. */
export function lookupFunction(name: string): FunctionDef | undefined {
  const key = name.toLowerCase();
  return key === 'ceiling' ? FUNCTIONS.ceil : Object.hasOwn(FUNCTIONS, key) ? FUNCTIONS[key] : undefined;
}

/** Names of all functions, for "unknown function" hints. */
export function functionNames(): string[] {
  return [...Object.keys(FUNCTIONS).filter((n) => /^[a-z_]+$/.test(n)), 'ceiling', 'now'].sort();
}
