import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  type Schema,
  Timestamp,
  type Value,
} from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import { makeConverter, textToValue } from './cast.js';
import type { ArithOp, CompareOp, Expr, SqlType } from './expr.js';
import { type BindContext, type FunctionDef, functionNames, lookupFunction } from './functions.js';
import type { Token } from './lexer.js';
import { likeToRegExp } from './like.js';
import type { SourceText, Span } from './source.js';
import { findReference, findStringLiteral } from './statement-layout.js';
import {
  arithmeticTypes,
  castAllowed,
  commonType,
  implicitlyConvertible,
  isInteger,
  isText,
  TYPE_NAMES,
} from './type-rules.js';

/** A node of node-sql-parser's AST, read defensively. */
export type Ast = { readonly [key: string]: unknown };

export function isAst(v: unknown): v is Ast {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function child(a: Ast, key: string): Ast | null {
  const v = a[key];
  return isAst(v) ? v : null;
}

function children(a: Ast | null, key: string): Ast[] {
  const v = a?.[key];
  return Array.isArray(v) ? v.filter(isAst) : [];
}

function text(a: Ast | null, key: string): string | null {
  const v = a?.[key];
  return typeof v === 'string' ? v : null;
}

/** One table of a FROM clause, as column references see it. */
export interface ScopeRelation {
  /** The table's name as the query knows it (a source, another statement's output, a CTE or a subquery alias). */
  readonly table: string;
  readonly alias: string | null;
  readonly schema: Schema;
  /** Where this relation's columns start in the row the expression is evaluated on. */
  readonly offset: number;
}

/** The tables an expression's column references resolve against (several for a join). */
export interface Scope {
  readonly relations: readonly ScopeRelation[];
}

/** A scope of one table whose columns start at 0. */
export function singleScope(table: string, alias: string | null, schema: Schema): Scope {
  return { relations: [{ table, alias, schema, offset: 0 }] };
}

/**
 * How the binder treats aggregate and window calls: the planner of a
 * grouped query passes a hook that records the call and returns a
 * stand-in expression; elsewhere such calls are errors.
 */
export interface BindHooks {
  readonly aggregate?: (ast: Ast, span: Span) => Expr;
  readonly window?: (ast: Ast, span: Span) => Expr;
  /** Where aggregates are not allowed, for the error message ("WHERE", "GROUP BY", …). */
  readonly clause?: string;
  /** A scalar subquery `(SELECT …)`; `select` is its SELECT AST. */
  readonly subquery?: (select: Ast, span: Span) => Expr;
  /** `operand [NOT] IN (SELECT …)`; `node` is the whole IN expression's AST. */
  readonly inSubquery?: (
    node: Ast,
    operand: Expr,
    select: Ast,
    negated: boolean,
    span: Span,
    subquery: Span,
  ) => Expr;
}

/** The SELECT of a parenthesized subquery node, or null. */
export function subquerySelect(ast: Ast): Ast | null {
  const inner = ast.ast;
  return isAst(inner) && inner.type === 'select' ? inner : null;
}

const SUBQUERY_HINT =
  'subqueries are supported in FROM, and in WHERE as x IN (SELECT …) ANDed into the condition or as a scalar aggregate (SELECT MAX(x) FROM t)';

const COMPARE_OPS: { readonly [op: string]: CompareOp } = {
  '=': '=',
  '<>': '<>',
  '!=': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
};

const MAX_FRAGMENT = 60;

/**
 * Turns node-sql-parser expressions into typed {@link Expr}s: resolves
 * column names against the scope, checks and coerces types, and reports
 * every problem as a SqlError pointing into the SQL text.
 */
export class ExprBinder {
  constructor(
    private readonly src: SourceText,
    private readonly tokens: readonly Token[],
    private readonly scope: Scope | null,
    private readonly hooks: BindHooks = {},
    /** The value of NOW(). */
    private readonly now: Timestamp = Timestamp.now(),
  ) {}

  /** A binder over the same text and scope with other hooks. */
  withHooks(hooks: BindHooks): ExprBinder {
    return new ExprBinder(this.src, this.tokens, this.scope, hooks, this.now);
  }

  /** The quoted, shortened text of a span, for messages. */
  fragmentOf(span: Span): string {
    return this.fragment(span);
  }

  /** The span of an AST node, or `range` when the parser gave it no location. */
  locate(ast: Ast, range: Span): Span {
    return this.spanOf(ast, range);
  }

  /** Binds `ast`, which lies somewhere inside `range` of the text. */
  bind(ast: Ast, range: Span): Expr {
    const span = this.spanOf(ast, range);
    const select = subquerySelect(ast);
    if (select !== null) {
      const sub = this.subquerySpan(span);
      if (this.hooks.subquery) return this.hooks.subquery(select, sub);
      throw this.src.error(
        `a subquery is not supported in ${this.hooks.clause ?? 'this clause'} in "${this.fragment(sub)}"`,
        sub.start,
        SUBQUERY_HINT,
      );
    }
    switch (ast.type) {
      case 'column_ref':
        return this.column(ast, span);
      case 'number':
      case 'bigint':
        return this.numberLiteral(ast, span);
      case 'single_quote_string':
      case 'string': {
        const value = unquote(String(ast.value ?? ''));
        return this.literal(findStringLiteral(this.tokens, span, value) ?? span, 'string', value, true);
      }
      case 'bool':
        return this.literal(span, 'boolean', ast.value === true);
      case 'null':
        return this.literal(span, 'null', null);
      case 'timestamp':
      case 'datetime':
        return this.typedLiteral(span, 'timestamp', String(ast.value ?? ''));
      case 'date':
        return this.typedLiteral(span, 'date', String(ast.value ?? ''));
      case 'interval': {
        const inner = child(ast, 'expr');
        const unit = text(ast, 'unit') ?? '';
        const body =
          inner && typeof inner.value === 'string' ? unquote(inner.value) : String(inner?.value ?? '');
        return this.typedLiteral(span, 'duration', unit ? `${body} ${unit}` : body);
      }
      case 'binary_expr':
        return this.binary(ast, span);
      case 'unary_expr':
        return this.unary(ast, span);
      case 'function':
        return this.call(ast, span);
      case 'cast':
        return this.cast(ast, span);
      case 'extract':
        return this.extract(ast, span);
      case 'case':
        return this.caseExpr(ast, span);
      case 'aggr_func':
        if (ast.over) {
          throw this.src.error(
            `aggregate function ${text(ast, 'name') ?? ''}() OVER (…) is not supported in "${this.fragment(span)}"`,
            span.start,
            'the supported window function is ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)',
          );
        }
        if (this.hooks.aggregate) return this.hooks.aggregate(ast, span);
        throw this.src.error(
          `aggregate function ${text(ast, 'name') ?? ''}() is not allowed in ${this.hooks.clause ?? 'this clause'} in "${this.fragment(span)}"`,
          span.start,
          'aggregates belong in the select list or HAVING',
        );
      case 'window_func':
        if (this.hooks.window) return this.hooks.window(ast, span);
        throw this.src.error(
          `window function ${text(ast, 'name') ?? ''}() OVER (…) is not allowed in ${this.hooks.clause ?? 'this clause'}`,
          span.start,
          'ROW_NUMBER() OVER (…) may appear only as a select list item',
        );
      case 'select':
        throw this.src.error(
          `a subquery is not supported in ${this.hooks.clause ?? 'this clause'} in "${this.fragment(span)}"`,
          span.start,
          SUBQUERY_HINT,
        );
      default:
        throw this.src.error(
          `unsupported expression "${this.fragment(span)}"`,
          span.start,
          `node-sql-parser node type "${String(ast.type)}"`,
        );
    }
  }

  /** Binds a condition (WHERE): it must be boolean. */
  bindCondition(ast: Ast, range: Span, clause: string): Expr {
    const e = this.bind(ast, range);
    if (e.type !== 'boolean' && e.type !== 'null') {
      throw this.src.error(
        `${clause} condition must be boolean, got ${e.type} in "${this.fragment(range)}"`,
        e.at,
      );
    }
    return e;
  }

  /**
   * Where a parenthesized subquery is: the parser gives the subquery node
   * no location, so take the first `(SELECT` inside the enclosing
   * expression and the parenthesis that closes it.
   */
  subquerySpan(range: Span): Span {
    const text = this.src.text;
    const re = /\(\s*(SELECT|WITH)\b/giy;
    for (
      let open = text.indexOf('(', range.start);
      open >= 0 && open < range.end;
      open = text.indexOf('(', open + 1)
    ) {
      re.lastIndex = open;
      if (!re.test(text)) continue;
      let depth = 0;
      for (let i = open; i < range.end; i++) {
        const c = text[i];
        if (c === "'") {
          i = text.indexOf("'", i + 1);
          if (i < 0) break;
        } else if (c === '(') depth++;
        else if (c === ')' && --depth === 0) return { start: open, end: i + 1 };
      }
      break;
    }
    return range;
  }

  private spanOf(ast: Ast, range: Span): Span {
    const loc = child(ast, 'loc');
    const start = child(loc ?? {}, 'start');
    const end = child(loc ?? {}, 'end');
    if (typeof start?.offset === 'number' && typeof end?.offset === 'number') {
      return { start: start.offset, end: end.offset };
    }
    return range;
  }

  private fragment(span: Span): string {
    const f = this.src.slice(span).replace(/\s+/g, ' ').trim();
    return f.length > MAX_FRAGMENT ? `${f.slice(0, MAX_FRAGMENT - 1)}…` : f;
  }

  private where(span: Span): string {
    return `in "${this.fragment(span)}" ${this.src.where(span.start)}`;
  }

  private base(span: Span, type: SqlType, nullable: boolean) {
    return { type, nullable, at: span.start, where: this.where(span) };
  }

  private literal(span: Span, type: SqlType, value: Value, fromString = false): Expr {
    return { kind: 'literal', ...this.base(span, type, value === null), value, fromString };
  }

  private numberLiteral(ast: Ast, span: Span): Expr {
    const raw = String(ast.value);
    if (/^-?\d+$/.test(raw)) {
      const v = BigInt(raw);
      if (v >= INT64_MIN && v <= INT64_MAX) return this.literal(span, 'int', v);
    }
    try {
      return this.literal(span, 'decimal', Decimal.parse(raw));
    } catch (e) {
      throw this.src.error(`invalid number literal ${raw}`, span.start, undefined, e);
    }
  }

  private typedLiteral(span: Span, type: 'timestamp' | 'date' | 'duration', body: string): Expr {
    try {
      const v =
        type === 'timestamp'
          ? Timestamp.parse(body)
          : type === 'date'
            ? DateValue.parse(body)
            : Duration.parse(body);
      return this.literal(span, type, v);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      throw this.src.error(
        `invalid ${type === 'duration' ? 'interval' : type} literal '${body}'`,
        span.start,
        detail,
        e,
      );
    }
  }

  private column(ast: Ast, span: Span): Expr {
    const col = ast.column;
    const qualifier = text(ast, 'table');
    if (col === '*') {
      throw this.src.error(
        `${qualifier ? `${qualifier}.*` : '*'} is only allowed as a select list item`,
        span.start,
      );
    }
    const nameNode = isAst(col) ? child(col, 'expr') : null;
    const name = typeof col === 'string' ? col : String(nameNode?.value ?? '');
    const quoted = nameNode?.type === 'double_quote_string';
    const ref = findReference(this.tokens, span, qualifier, name) ?? span;
    const shown = qualifier ? `${qualifier}.${name}` : name;
    const scope = this.scope;
    if (scope === null || scope.relations.length === 0) {
      throw this.src.error(`unknown column "${shown}"`, ref.start, 'the statement has no FROM clause');
    }
    const rels = scope.relations;
    let candidates: readonly ScopeRelation[] = rels;
    if (qualifier !== null) {
      const exact = rels.filter((r) => (r.alias ?? r.table) === qualifier);
      candidates =
        exact.length > 0
          ? exact
          : rels.filter((r) => (r.alias ?? r.table).toLowerCase() === qualifier.toLowerCase());
      if (candidates.length === 0) {
        if (rels.length === 1) {
          const only = rels[0]!;
          throw this.src.error(
            `unknown table "${qualifier}" in column reference "${shown}"`,
            ref.start,
            `the FROM table is ${describeFrom(only)}; write ${only.alias ?? only.table}.${name}`,
          );
        }
        throw this.src.error(
          `unknown table "${qualifier}" in column reference "${shown}"`,
          ref.start,
          `tables in FROM: ${rels.map(describeFrom).join(', ')}`,
        );
      }
      if (candidates.length > 1) {
        throw this.src.error(
          `table name "${qualifier}" is ambiguous in column reference "${shown}"`,
          ref.start,
          'give each table in FROM its own alias',
        );
      }
    }
    const found: { rel: ScopeRelation; index: number }[] = [];
    for (const rel of candidates) {
      const fields = rel.schema.fields;
      let index = fields.findIndex((f) => f.name === name);
      if (index < 0 && !quoted) {
        const matches = fields.flatMap((f, i) => (f.name.toLowerCase() === name.toLowerCase() ? [i] : []));
        if (matches.length > 1) {
          throw this.src.error(
            `ambiguous column "${shown}"`,
            ref.start,
            `${matches.map((i) => fields[i]!.name).join(', ')} all match; double-quote the exact name`,
          );
        }
        index = matches[0] ?? -1;
      }
      if (index >= 0) found.push({ rel, index });
    }
    if (found.length > 1) {
      throw this.src.error(
        `ambiguous column "${shown}"`,
        ref.start,
        `it is a column of ${found.map((x) => x.rel.alias ?? x.rel.table).join(' and ')}; qualify it, e.g. ${found[0]!.rel.alias ?? found[0]!.rel.table}.${name}`,
      );
    }
    const hit = found[0];
    if (hit === undefined) {
      throw this.src.error(
        `unknown column "${shown}"`,
        ref.start,
        candidates
          .map((r) => `columns of ${r.table}: ${listNames(r.schema.fields.map((f) => f.name))}`)
          .join('; '),
      );
    }
    const f = hit.rel.schema.fields[hit.index]!;
    return {
      kind: 'column',
      ...this.base(ref, f.type, f.nullable),
      ...(f.precision === undefined ? {} : { precision: f.precision }),
      ...(f.scale === undefined ? {} : { scale: f.scale }),
      index: hit.rel.offset + hit.index,
      name: f.name,
    };
  }

  /** Converts `e` to `to` where SQL does so silently; string literals are parsed now. */
  coerce(e: Expr, to: FieldType, context: string): Expr {
    if (e.type === to) return e;
    if (e.kind === 'literal' && (e.type === 'null' || (e.fromString && !isText(to)))) {
      if (e.value === null) return { ...e, type: to };
      try {
        return { ...e, type: to, value: textToValue(e.value as string, to, e.where), fromString: false };
      } catch (err) {
        throw this.src.error(
          `invalid ${to} literal '${String(e.value)}' in ${context}`,
          e.at,
          err instanceof SqlEvalError ? undefined : String(err),
          err,
        );
      }
    }
    if (isInteger(e.type) && isInteger(to)) return e;
    if (!implicitlyConvertible(e.type, to)) {
      throw this.src.error(
        `cannot use ${e.type} as ${to} in ${context}`,
        e.at,
        'use CAST(… AS …) to convert',
      );
    }
    if (e.kind === 'literal') return { ...e, type: to, value: makeConverter(e.type, to, e.where)(e.value) };
    return {
      kind: 'cast',
      type: to,
      nullable: e.nullable,
      at: e.at,
      where: e.where,
      operand: e,
      implicit: true,
    };
  }

  /**
   * The common type of `exprs` and the exprs converted to it. String
   * literals take the type of the others, as PostgreSQL's untyped literals.
   */
  unify(exprs: readonly Expr[], context: string, at: number): { type: SqlType; args: Expr[] } {
    const typed = exprs.filter((e) => !(e.kind === 'literal' && (e.fromString || e.type === 'null')));
    const basis = typed.length > 0 ? typed : exprs;
    let t: SqlType = 'null';
    for (const e of basis) {
      const c = commonType(t, e.type);
      if (c === null) {
        throw this.src.error(
          `${context} have incompatible types ${t} and ${e.type}`,
          Math.max(e.at, at),
          'use CAST(… AS …) to convert one of them',
        );
      }
      t = c;
    }
    if (t === 'null') return { type: t, args: [...exprs] };
    const target = t;
    return { type: t, args: exprs.map((e) => this.coerce(e, target, context)) };
  }

  private binary(ast: Ast, span: Span): Expr {
    const op = String(ast.operator).toUpperCase();
    const leftAst = child(ast, 'left');
    const rightAst = child(ast, 'right');
    if (leftAst === null || rightAst === null)
      throw this.src.error(`malformed expression "${this.fragment(span)}"`, span.start);
    const ctx = `"${this.fragment(span)}"`;
    if (op === 'IS' || op === 'IS NOT') {
      const left = this.bind(leftAst, span);
      const negated = op === 'IS NOT';
      if (rightAst.type === 'null')
        return { kind: 'is-null', ...this.base(span, 'boolean', false), operand: left, negated };
      if (rightAst.type === 'bool') {
        this.requireBoolean(left, `IS ${rightAst.value ? 'TRUE' : 'FALSE'}`, span);
        return {
          kind: 'is-bool',
          ...this.base(span, 'boolean', false),
          operand: left,
          value: rightAst.value === true,
          negated,
        };
      }
      throw this.src.error(
        `unsupported IS test in ${ctx}`,
        span.start,
        'supported: IS [NOT] NULL, IS [NOT] TRUE, IS [NOT] FALSE',
      );
    }
    if (op === 'IN' || op === 'NOT IN') {
      const left = this.bind(leftAst, span);
      const items = children(rightAst, 'value');
      const select = items.length === 1 ? subquerySelect(items[0]!) : subquerySelect(rightAst);
      if (select !== null) {
        if (this.hooks.inSubquery) {
          const sub = this.subquerySpan(span);
          return this.hooks.inSubquery(ast, left, select, op === 'NOT IN', span, sub);
        }
        throw this.src.error(
          `IN (SELECT …) is not supported in ${this.hooks.clause ?? 'this clause'} in ${ctx}`,
          span.start,
          SUBQUERY_HINT,
        );
      }
      if (rightAst.type !== 'expr_list') throw this.src.error(`malformed IN list in ${ctx}`, span.start);
      const list = items.map((a) => this.bind(a, span));
      const u = this.unify([left, ...list], `IN list values ${ctx}`, span.start);
      const [operand, ...rest] = u.args;
      return {
        kind: 'in',
        ...this.base(
          span,
          'boolean',
          u.args.some((a) => a.nullable),
        ),
        operand: operand!,
        list: rest,
        negated: op === 'NOT IN',
        compareType: u.type === 'null' ? 'int' : u.type,
      };
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      const left = this.bind(leftAst, span);
      const [lo, hi] = children(rightAst, 'value').map((a) => this.bind(a, span));
      if (lo === undefined || hi === undefined)
        throw this.src.error(`malformed BETWEEN in ${ctx}`, span.start);
      const both: Expr = {
        kind: 'and',
        ...this.base(span, 'boolean', left.nullable || lo.nullable || hi.nullable),
        left: this.comparison('>=', left, lo, span),
        right: this.comparison('<=', left, hi, span),
      };
      return op === 'BETWEEN'
        ? both
        : { kind: 'not', ...this.base(span, 'boolean', both.nullable), operand: both };
    }
    if (op === 'LIKE' || op === 'NOT LIKE' || op === 'ILIKE' || op === 'NOT ILIKE')
      return this.like(op, leftAst, rightAst, span);
    const left = this.bind(leftAst, span);
    const right = this.bind(rightAst, span);
    const cmp = COMPARE_OPS[op];
    if (cmp !== undefined) return this.comparison(cmp, left, right, span);
    if (op === 'AND' || op === 'OR') {
      this.requireBoolean(left, op, span);
      this.requireBoolean(right, op, span);
      return {
        kind: op === 'AND' ? 'and' : 'or',
        ...this.base(span, 'boolean', left.nullable || right.nullable),
        left,
        right,
      };
    }
    if (op === '||') return this.concat(left, right, span);
    if (op === '->' || op === '->>') return this.applyFunction(lookupFunction(op)!, op, [left, right], span);
    if (op === '+' || op === '-' || op === '*' || op === '/' || op === '%')
      return this.arith(op, left, right, span);
    throw this.src.error(`unsupported operator ${op} in ${ctx}`, span.start);
  }

  private requireBoolean(e: Expr, what: string, span: Span): void {
    if (e.type !== 'boolean' && e.type !== 'null') {
      throw this.src.error(
        `${what} expects boolean operands, got ${e.type} in "${this.fragment(span)}"`,
        e.at,
      );
    }
  }

  private comparison(op: CompareOp, l: Expr, r: Expr, span: Span): Expr {
    const u = this.unify([l, r], `comparison "${this.fragment(span)}": operands`, span.start);
    return {
      kind: 'compare',
      ...this.base(span, 'boolean', l.nullable || r.nullable),
      op,
      left: u.args[0]!,
      right: u.args[1]!,
      compareType: u.type === 'null' ? 'int' : u.type,
    };
  }

  private arith(op: ArithOp, left: Expr, right: Expr, span: Span): Expr {
    let l = left;
    let r = right;
    // An untyped string literal next to a number is read as that number type.
    if (l.kind === 'literal' && l.fromString && !isText(r.type) && r.type !== 'null')
      l = this.coerce(l, r.type as FieldType, `"${this.fragment(span)}"`);
    if (r.kind === 'literal' && r.fromString && !isText(l.type) && l.type !== 'null')
      r = this.coerce(r, l.type as FieldType, `"${this.fragment(span)}"`);
    const t = arithmeticTypes(op, l.type, r.type);
    if (t === null) {
      const hint =
        op === '+' && (isText(l.type) || isText(r.type))
          ? 'use || to concatenate strings, or CAST(… AS …) to convert'
          : 'use CAST(… AS …) to convert';
      throw this.src.error(
        `operator ${op} cannot be applied to ${l.type} and ${r.type} in "${this.fragment(span)}"`,
        span.start,
        hint,
      );
    }
    const ctx = `"${this.fragment(span)}"`;
    return {
      kind: 'arith',
      ...this.base(span, t.result, l.nullable || r.nullable),
      op,
      left: this.coerce(l, t.left, ctx),
      right: this.coerce(r, t.right, ctx),
    };
  }

  private concat(left: Expr, right: Expr, span: Span): Expr {
    if (!isText(left.type) && !isText(right.type) && left.type !== 'null' && right.type !== 'null') {
      throw this.src.error(
        `operator || needs a string operand, got ${left.type} and ${right.type} in "${this.fragment(span)}"`,
        span.start,
        'use CAST(… AS text) to convert',
      );
    }
    const toText = (e: Expr): Expr =>
      isText(e.type)
        ? e
        : {
            kind: 'cast',
            type: 'string',
            nullable: e.nullable,
            at: e.at,
            where: e.where,
            operand: e,
            implicit: true,
          };
    const l = toText(left);
    const r = toText(right);
    const type = l.type === 'text' || r.type === 'text' ? 'text' : 'string';
    return { kind: 'call', ...this.base(span, type, l.nullable || r.nullable), name: '||', args: [l, r] };
  }

  private like(op: string, leftAst: Ast, rightAst: Ast, span: Span): Expr {
    const operand = this.bind(leftAst, span);
    const escNode = child(rightAst, 'escape');
    const { escape: _drop, ...patternAst } = rightAst;
    const pattern = this.bind(patternAst, span);
    const escAst = escNode ? child(escNode, 'value') : null;
    const escapeExpr = escAst ? this.bind(escAst, span) : null;
    for (const e of [operand, pattern, ...(escapeExpr ? [escapeExpr] : [])]) {
      if (!isText(e.type) && e.type !== 'null') {
        throw this.src.error(
          `${op} expects string operands, got ${e.type} in "${this.fragment(span)}"`,
          e.at,
          'use CAST(… AS text) to convert',
        );
      }
    }
    if (
      pattern.kind === 'literal' &&
      pattern.value !== null &&
      (escapeExpr === null || escapeExpr.kind === 'literal')
    ) {
      const esc = escapeExpr === null ? '\\' : ((escapeExpr.value as string | null) ?? '\\');
      try {
        likeToRegExp(pattern.value as string, esc, false, pattern.where);
      } catch (e) {
        throw this.src.error(
          `invalid ${op} pattern '${String(pattern.value)}'`,
          pattern.at,
          e instanceof Error ? e.message.replace(/ in ".*$/, '') : undefined,
          e,
        );
      }
    }
    return {
      kind: 'like',
      ...this.base(span, 'boolean', operand.nullable || pattern.nullable || (escapeExpr?.nullable ?? false)),
      operand,
      pattern,
      escape: escapeExpr,
      caseInsensitive: op.includes('ILIKE'),
      negated: op.startsWith('NOT'),
    };
  }

  private unary(ast: Ast, span: Span): Expr {
    const op = String(ast.operator).toUpperCase();
    const inner = child(ast, 'expr');
    if (inner === null) throw this.src.error(`malformed expression "${this.fragment(span)}"`, span.start);
    const e = this.bind(inner, span);
    if (op === 'NOT') {
      this.requireBoolean(e, 'NOT', span);
      return { kind: 'not', ...this.base(span, 'boolean', e.nullable), operand: e };
    }
    if (op === '-' || op === '+') {
      if (!['int', 'uint', 'float', 'decimal', 'duration', 'null'].includes(e.type)) {
        throw this.src.error(
          `unary ${op} cannot be applied to ${e.type} in "${this.fragment(span)}"`,
          span.start,
        );
      }
      if (op === '+') return e;
      // -uint is negative: work in int.
      const operand = e.type === 'uint' ? this.coerce(e, 'int', 'negation') : e;
      return { kind: 'neg', ...this.base(span, e.type === 'uint' ? 'int' : e.type, e.nullable), operand };
    }
    throw this.src.error(`unsupported operator ${op} in "${this.fragment(span)}"`, span.start);
  }

  private call(ast: Ast, span: Span): Expr {
    const name = children(child(ast, 'name'), 'name')
      .map((n) => String(n.value))
      .join('.');
    if (ast.over) {
      if (this.hooks.window) return this.hooks.window(ast, span);
      throw this.src.error(
        `window function ${name}() OVER (…) is not allowed in ${this.hooks.clause ?? 'this clause'}`,
        span.start,
        'ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) may appear only as a select list item',
      );
    }
    let argAsts = children(child(ast, 'args'), 'value');
    let fnName = name.toLowerCase();
    if (fnName === 'trim' && argAsts.some((a) => a.type === 'origin')) {
      // TRIM([BOTH | LEADING | TRAILING] [chars] FROM s)
      const mode = String(
        argAsts.find((a) => a.type === 'origin' && /^(both|leading|trailing)$/i.test(String(a.value)))
          ?.value ?? 'BOTH',
      ).toUpperCase();
      const fromAt = argAsts.findIndex(
        (a) => a.type === 'origin' && String(a.value).toLowerCase() === 'from',
      );
      const exprs = argAsts.filter((a) => a.type !== 'origin');
      argAsts = fromAt >= 0 ? [exprs[exprs.length - 1]!, ...exprs.slice(0, -1)] : exprs;
      fnName = mode === 'LEADING' ? 'ltrim' : mode === 'TRAILING' ? 'rtrim' : 'btrim';
    }
    // NOW() is fixed for the pipeline (when compiled, or restored from a checkpoint), so a row's
    // retraction recomputes what was emitted for it.
    if (fnName === 'now' && argAsts.length === 0) return this.literal(span, 'timestamp', this.now);
    if (fnName === 'exists') {
      throw this.src.error(
        `EXISTS (SELECT …) is not supported in "${this.fragment(span)}"`,
        span.start,
        'write x IN (SELECT …) ANDed into WHERE, or join the subquery in FROM',
      );
    }
    const def = lookupFunction(fnName);
    if (def === undefined) {
      throw this.src.error(
        `unknown function "${name}"`,
        span.start,
        `known functions: ${functionNames().join(', ')}`,
      );
    }
    if (argAsts.length < def.minArgs || argAsts.length > def.maxArgs) {
      const want =
        def.minArgs === def.maxArgs
          ? `${def.minArgs}`
          : def.maxArgs === Number.POSITIVE_INFINITY
            ? `at least ${def.minArgs}`
            : `${def.minArgs} to ${def.maxArgs}`;
      throw this.src.error(
        `function ${name.toLowerCase()} takes ${want} argument${want === '1' ? '' : 's'}, got ${argAsts.length} in "${this.fragment(span)}"`,
        span.start,
        `usage: ${def.signature}`,
      );
    }
    const args = argAsts.map((a) => this.bind(a, span));
    return this.applyFunction(
      def,
      fnName === 'btrim' && name.toLowerCase() === 'trim' ? 'trim' : fnName,
      args,
      span,
    );
  }

  /** Types a call of `def` on bound arguments. */
  private applyFunction(def: FunctionDef, name: string, args: Expr[], span: Span): Expr {
    const cx: BindContext = {
      fail: (message, hint) => {
        throw this.src.error(`${message} in "${this.fragment(span)}"`, span.start, hint);
      },
      unify: (exprs, what) => this.unify(exprs, `${what} of "${this.fragment(span)}"`, span.start),
    };
    const bound = def.bind(args, cx);
    return { kind: 'call', ...this.base(span, bound.type, bound.nullable), name, args: bound.args };
  }

  /** `EXTRACT(field FROM source)`: a call of extract('field', source). */
  private extract(ast: Ast, span: Span): Expr {
    const args = child(ast, 'args');
    const field = text(args, 'field') ?? '';
    const source = child(args ?? {}, 'source');
    if (source === null) throw this.src.error(`malformed EXTRACT in "${this.fragment(span)}"`, span.start);
    const def = lookupFunction('extract')!;
    return this.applyFunction(
      def,
      'extract',
      [this.literal(span, 'string', field, true), this.bind(source, span)],
      span,
    );
  }

  private cast(ast: Ast, span: Span): Expr {
    const inner = child(ast, 'expr');
    const target = children(ast, 'target')[0];
    if (inner === null || target === undefined)
      throw this.src.error(`malformed CAST in "${this.fragment(span)}"`, span.start);
    let typeName = String(target.dataType ?? '').toUpperCase();
    if (typeName === 'MONEY') {
      // The parser was given `money` for `point` (see the planner's withPointType).
      const named = this.tokens.filter(
        (t) =>
          t.kind === 'ident' &&
          t.start >= span.start &&
          t.end <= span.end &&
          /^(point|money)$/i.test(t.value),
      );
      if (named[named.length - 1]?.value.toLowerCase() === 'point') typeName = 'POINT';
    }
    const unsigned =
      Array.isArray(target.suffix) && target.suffix.some((x) => String(x).toUpperCase() === 'UNSIGNED');
    const to = unsigned && TYPE_NAMES[typeName] === 'int' ? 'uint' : TYPE_NAMES[typeName];
    const operand = this.bind(inner, span);
    if (to === undefined) {
      throw this.src.error(
        `unknown type ${typeName} in CAST`,
        span.start,
        `known types: ${Object.keys(TYPE_NAMES).join(', ')}`,
      );
    }
    if (!castAllowed(operand.type, to)) {
      throw this.src.error(
        `cannot cast ${operand.type} to ${to} in "${this.fragment(span)}"`,
        span.start,
        'cast through text if you mean its text form',
      );
    }
    const precision = to === 'decimal' && typeof target.length === 'number' ? target.length : undefined;
    const scale =
      to === 'decimal' && typeof target.scale === 'number'
        ? target.scale
        : precision !== undefined
          ? 0
          : undefined;
    if (
      operand.kind === 'literal' &&
      precision === undefined &&
      (operand.fromString || operand.value === null)
    ) {
      return {
        ...this.coerce(operand, to, `"${this.fragment(span)}"`),
        at: span.start,
        where: this.where(span),
      };
    }
    return {
      kind: 'cast',
      ...this.base(span, to, operand.nullable),
      ...(precision === undefined ? {} : { precision }),
      ...(scale === undefined ? {} : { scale }),
      operand,
      implicit: false,
    };
  }

  private caseExpr(ast: Ast, span: Span): Expr {
    const operandAst = child(ast, 'expr');
    const clauses = children(ast, 'args');
    const whenAsts = clauses.filter((c) => c.type === 'when');
    const elseAst = clauses.find((c) => c.type === 'else');
    let operand = operandAst ? this.bind(operandAst, span) : null;
    let whens = whenAsts.map((w) => this.bind(child(w, 'cond') ?? {}, span));
    let compareType: FieldType | null = null;
    if (operand !== null) {
      const u = this.unify(
        [operand, ...whens],
        `CASE operand and WHEN values in "${this.fragment(span)}"`,
        span.start,
      );
      [operand, ...whens] = u.args as [Expr, ...Expr[]];
      compareType = u.type === 'null' ? 'int' : u.type;
    } else {
      for (const w of whens) this.requireBoolean(w, 'CASE WHEN', span);
    }
    const results = [...whenAsts, ...(elseAst ? [elseAst] : [])].map((c) =>
      this.bind(child(c, 'result') ?? {}, span),
    );
    const u = this.unify(results, `CASE results in "${this.fragment(span)}"`, span.start);
    const thens = u.args.slice(0, whenAsts.length);
    const otherwise = elseAst ? u.args[whenAsts.length]! : null;
    return {
      kind: 'case',
      ...this.base(span, u.type, otherwise === null || u.args.some((a) => a.nullable)),
      operand,
      compareType,
      whens: whens.map((w, i) => ({ when: w, result: thens[i]! })),
      otherwise,
    };
  }
}

/** `'it''s'` as node-sql-parser keeps it → `it's`. */
function unquote(s: string): string {
  return s.replace(/''/g, "'");
}

function describeFrom(s: ScopeRelation): string {
  return s.alias ? `${s.table} AS ${s.alias}` : s.table;
}

function listNames(names: readonly string[]): string {
  return names.length > 30
    ? `${names.slice(0, 30).join(', ')}, … (${names.length} in all)`
    : names.join(', ');
}
