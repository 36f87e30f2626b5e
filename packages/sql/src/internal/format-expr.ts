import { canonicalJson, type Json, type Value } from '@dozer/core';
import { valueToText } from './cast.js';
import type { Expr } from './expr.js';

/** SQL-like text of a bound expression, for `explain()`. Implicit conversions show as `::type`. */
export function formatExpr(e: Expr): string {
  switch (e.kind) {
    case 'column':
      return quoteIdent(e.name);
    case 'literal':
      return formatLiteral(e.value, e.type);
    case 'arith':
      return `(${formatExpr(e.left)} ${e.op} ${formatExpr(e.right)})`;
    case 'neg':
      return `-${formatExpr(e.operand)}`;
    case 'compare':
      return `(${formatExpr(e.left)} ${e.op} ${formatExpr(e.right)})`;
    case 'and':
    case 'or':
      return `(${formatExpr(e.left)} ${e.kind.toUpperCase()} ${formatExpr(e.right)})`;
    case 'not':
      return `(NOT ${formatExpr(e.operand)})`;
    case 'is-null':
      return `(${formatExpr(e.operand)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'is-bool':
      return `(${formatExpr(e.operand)} IS ${e.negated ? 'NOT ' : ''}${e.value ? 'TRUE' : 'FALSE'})`;
    case 'in':
      return `(${formatExpr(e.operand)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(formatExpr).join(', ')}))`;
    case 'like':
      return `(${formatExpr(e.operand)} ${e.negated ? 'NOT ' : ''}${e.caseInsensitive ? 'ILIKE' : 'LIKE'} ${formatExpr(e.pattern)}${e.escape ? ` ESCAPE ${formatExpr(e.escape)}` : ''})`;
    case 'case': {
      const parts = ['CASE'];
      if (e.operand) parts.push(formatExpr(e.operand));
      for (const w of e.whens) parts.push(`WHEN ${formatExpr(w.when)} THEN ${formatExpr(w.result)}`);
      if (e.otherwise) parts.push(`ELSE ${formatExpr(e.otherwise)}`);
      parts.push('END');
      return parts.join(' ');
    }
    case 'cast': {
      const t = e.precision === undefined ? e.type : `${e.type}(${e.precision}, ${e.scale ?? 0})`;
      return e.implicit ? `${formatExpr(e.operand)}::${t}` : `CAST(${formatExpr(e.operand)} AS ${t})`;
    }
    case 'call':
      return e.name === '||' || e.name === '->' || e.name === '->>'
        ? `(${formatExpr(e.args[0]!)} ${e.name} ${formatExpr(e.args[1]!)})`
        : `${e.name}(${e.args.map(formatExpr).join(', ')})`;
  }
}

function formatLiteral(v: Value, type: string): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return quoteString(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v).toUpperCase();
  switch (type) {
    case 'timestamp':
      return `TIMESTAMP ${quoteString(valueToText(v))}`;
    case 'date':
      return `DATE ${quoteString(valueToText(v))}`;
    case 'duration':
      return `INTERVAL ${quoteString(valueToText(v))}`;
    case 'json':
      return `${quoteString(canonicalJson((v as Json).value))}::json`;
    case 'decimal':
    case 'float':
      return valueToText(v);
    default:
      return `${quoteString(valueToText(v))}::${type}`;
  }
}

function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Names that are plain lower-case identifiers print bare; others in double quotes. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
