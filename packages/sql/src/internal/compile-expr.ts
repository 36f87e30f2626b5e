import {
  compareValues,
  type Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  type Timestamp,
  type Value,
} from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import { makeArith } from './arith.js';
import { makeConverter, valueToText } from './cast.js';
import type { CompareOp, Evaluator, Expr } from './expr.js';
import { lookupFunction } from './functions.js';
import { likeToRegExp } from './like.js';

const COMPARE: { readonly [op in CompareOp]: (c: number) => boolean } = {
  '=': (c) => c === 0,
  '<>': (c) => c !== 0,
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

/**
 * Comparisons that need no general ordering: integers (bigints compare by
 * value with the operators), timestamps by their micros, and string
 * equality. Others (string order by code point, floats with NaN, decimals)
 * go through `compareValues`.
 */
function fastCompare(t: FieldType, op: CompareOp): ((a: Value, b: Value) => boolean) | null {
  if (t === 'int' || t === 'uint') {
    switch (op) {
      case '=':
        return (a, b) => a === b;
      case '<>':
        return (a, b) => a !== b;
      case '<':
        return (a, b) => (a as bigint) < (b as bigint);
      case '<=':
        return (a, b) => (a as bigint) <= (b as bigint);
      case '>':
        return (a, b) => (a as bigint) > (b as bigint);
      case '>=':
        return (a, b) => (a as bigint) >= (b as bigint);
    }
  }
  if (t === 'timestamp') {
    const us = (v: Value): bigint => (v as Timestamp).micros;
    switch (op) {
      case '=':
        return (a, b) => us(a) === us(b);
      case '<>':
        return (a, b) => us(a) !== us(b);
      case '<':
        return (a, b) => us(a) < us(b);
      case '<=':
        return (a, b) => us(a) <= us(b);
      case '>':
        return (a, b) => us(a) > us(b);
      case '>=':
        return (a, b) => us(a) >= us(b);
    }
  }
  if ((t === 'string' || t === 'text') && (op === '=' || op === '<>')) {
    return op === '=' ? (a, b) => a === b : (a, b) => a !== b;
  }
  return null;
}

/**
 * Compiles a bound expression once into a closure over the row, so that
 * evaluating it per row walks no tree and makes no type decisions. NULL
 * follows SQL: strict operators give NULL on a NULL input; AND, OR, IN and
 * CASE use three-valued logic.
 */
export function compileExpr(e: Expr): Evaluator {
  switch (e.kind) {
    case 'column': {
      const i = e.index;
      return (row) => row[i] ?? null;
    }
    case 'literal': {
      const v = e.value;
      return () => v;
    }
    case 'arith': {
      const l = compileExpr(e.left);
      const r = compileExpr(e.right);
      const fn = makeArith(
        e.op,
        e.type as FieldType,
        e.left.type as FieldType,
        e.right.type as FieldType,
        e.where,
      );
      return (row) => {
        const a = l(row);
        if (a === null) return null;
        const b = r(row);
        return b === null ? null : fn(a, b);
      };
    }
    case 'neg':
      return compileNeg(e.type, compileExpr(e.operand), e.where);
    case 'compare': {
      const l = compileExpr(e.left);
      const r = compileExpr(e.right);
      const t = e.compareType;
      const fast = fastCompare(t, e.op);
      if (fast !== null) {
        if (e.right.kind === 'literal' && e.right.value !== null) {
          const b = e.right.value;
          return (row) => {
            const a = l(row);
            return a === null ? null : fast(a, b);
          };
        }
        return (row) => {
          const a = l(row);
          if (a === null) return null;
          const b = r(row);
          return b === null ? null : fast(a, b);
        };
      }
      const test = COMPARE[e.op];
      return (row) => {
        const a = l(row);
        if (a === null) return null;
        const b = r(row);
        return b === null ? null : test(compareValues(t, a, b));
      };
    }
    case 'and': {
      const l = compileExpr(e.left);
      const r = compileExpr(e.right);
      return (row) => {
        const a = l(row);
        if (a === false) return false;
        const b = r(row);
        if (b === false) return false;
        return a === null || b === null ? null : true;
      };
    }
    case 'or': {
      const l = compileExpr(e.left);
      const r = compileExpr(e.right);
      return (row) => {
        const a = l(row);
        if (a === true) return true;
        const b = r(row);
        if (b === true) return true;
        return a === null || b === null ? null : false;
      };
    }
    case 'not': {
      const o = compileExpr(e.operand);
      return (row) => {
        const v = o(row);
        return v === null ? null : !v;
      };
    }
    case 'is-null': {
      const o = compileExpr(e.operand);
      return e.negated ? (row) => o(row) !== null : (row) => o(row) === null;
    }
    case 'is-bool': {
      const o = compileExpr(e.operand);
      const want = e.value;
      const negated = e.negated;
      return (row) => (o(row) === want) !== negated;
    }
    case 'in':
      return compileIn(e.compareType, compileExpr(e.operand), e.list.map(compileExpr), e.negated);
    case 'like':
      return compileLike(e);
    case 'case':
      return compileCase(e);
    case 'cast': {
      const o = compileExpr(e.operand);
      const conv = makeConverter(e.operand.type, e.type as FieldType, e.where, e.precision, e.scale);
      return (row) => {
        const v = o(row);
        return v === null ? null : conv(v);
      };
    }
    case 'call':
      return compileCall(e);
  }
}

function compileNeg(type: string, o: Evaluator, where: string): Evaluator {
  return (row) => {
    const v = o(row);
    if (v === null) return null;
    switch (type) {
      case 'int': {
        const r = -(v as bigint);
        if (r > INT64_MAX) throw new SqlEvalError(`integer out of range: -(${v}) ${where}`);
        return r;
      }
      case 'float':
        return -(v as number);
      case 'decimal':
        return (v as Decimal).neg();
      default: {
        const d = v as Duration;
        return new Duration(-d.months, -d.days, -d.micros);
      }
    }
  };
}

function compileIn(
  t: FieldType,
  operand: Evaluator,
  list: readonly Evaluator[],
  negated: boolean,
): Evaluator {
  return (row) => {
    const v = operand(row);
    if (v === null) return null;
    let sawNull = false;
    for (const item of list) {
      const x = item(row);
      if (x === null) sawNull = true;
      else if (compareValues(t, v, x) === 0) return !negated;
    }
    // x IN (…, NULL) is NULL, not false, when nothing matched.
    return sawNull ? null : negated;
  };
}

function compileLike(e: Extract<Expr, { kind: 'like' }>): Evaluator {
  const operand = compileExpr(e.operand);
  const negated = e.negated;
  const ci = e.caseInsensitive;
  if (e.pattern.kind === 'literal' && (e.escape === null || e.escape.kind === 'literal')) {
    const p = e.pattern.value as string | null;
    const esc = e.escape === null ? '\\' : (e.escape.value as string | null);
    if (p === null || esc === null) return () => null;
    const re = likeToRegExp(p, esc, ci, e.where);
    return (row) => {
      const v = operand(row);
      return v === null ? null : re.test(v as string) !== negated;
    };
  }
  const pattern = compileExpr(e.pattern);
  const escapeOf = e.escape === null ? () => '\\' : compileExpr(e.escape);
  // Patterns that vary per row: keep the last few compiled.
  const cache = new Map<string, RegExp>();
  return (row) => {
    const v = operand(row);
    const p = pattern(row);
    const esc = escapeOf(row);
    if (v === null || p === null || esc === null) return null;
    const key = `${esc as string}\u0000${p as string}`;
    let re = cache.get(key);
    if (re === undefined) {
      re = likeToRegExp(p as string, esc as string, ci, e.where);
      if (cache.size >= 64) cache.clear();
      cache.set(key, re);
    }
    return re.test(v as string) !== negated;
  };
}

function compileCase(e: Extract<Expr, { kind: 'case' }>): Evaluator {
  const whens = e.whens.map((w) => ({ when: compileExpr(w.when), result: compileExpr(w.result) }));
  const otherwise = e.otherwise === null ? () => null : compileExpr(e.otherwise);
  if (e.operand === null) {
    return (row) => {
      for (const w of whens) if (w.when(row) === true) return w.result(row);
      return otherwise(row);
    };
  }
  const operand = compileExpr(e.operand);
  const t = e.compareType ?? 'int';
  return (row) => {
    const v = operand(row);
    if (v !== null) {
      for (const w of whens) {
        const x = w.when(row);
        if (x !== null && compareValues(t, v, x) === 0) return w.result(row);
      }
    }
    return otherwise(row);
  };
}

function compileCall(e: Extract<Expr, { kind: 'call' }>): Evaluator {
  const args = e.args.map(compileExpr);
  if (e.name === '||') {
    const [l, r] = args as [Evaluator, Evaluator];
    return (row) => {
      const a = l(row);
      if (a === null) return null;
      const b = r(row);
      return b === null ? null : valueToText(a) + valueToText(b);
    };
  }
  const def = lookupFunction(e.name === 'trim' ? 'btrim' : e.name);
  if (def === undefined) throw new SqlEvalError(`unknown function ${e.name} ${e.where}`);
  return def.compile(args, e.args, e.where);
}

/** Evaluates a constant expression (no column references). */
export function evaluateConstant(e: Expr): Value {
  return compileExpr(e)([]);
}
