import { Duration, type FieldDefinition, type Schema, Timestamp } from '@dozer/core';
import NodeSqlParser from 'node-sql-parser';
import { SqlError } from '../errors.js';
import {
  type Ast,
  type BindHooks,
  ExprBinder,
  isAst,
  type Scope,
  type ScopeRelation,
  subquerySelect,
} from './binder.js';
import { type Expr, naturalName, type SqlType } from './expr.js';
import { columnsOf, exprKey, rewriteExpr, sameExpr, shiftColumns } from './expr-walk.js';
import { type Token, tokenize } from './lexer.js';
import type {
  AggregateCall,
  AggregateFunction,
  JoinType,
  PlanNode,
  SortKey,
  StatementPlan,
} from './logical-plan.js';
import { SourceText, type Span } from './source.js';
import { findName, layoutStatements, type StatementLayout } from './statement-layout.js';
import { commonType, isNumeric } from './type-rules.js';

/** The result of planning a SQL text: statements in dependency order, and the source tables read. */
export interface PlannedSql {
  readonly statements: readonly StatementPlan[];
  readonly inputs: readonly string[];
  readonly outputs: ReadonlyMap<string, Schema>;
  /** The value of NOW() in every statement. */
  readonly now: Timestamp;
}

/** How {@link planSql} plans. */
export interface PlanOptions {
  /** The value of NOW() (fixed for the pipeline's life); default: the current time. */
  readonly now?: Timestamp;
}

interface TableRef {
  readonly name: string;
  readonly at: number;
}

interface Parsed {
  readonly index: number;
  readonly ast: Ast;
  readonly layout: StatementLayout;
  readonly into: string;
  /** Tables named in FROM anywhere in the statement, except its CTEs. */
  readonly refs: readonly TableRef[];
}

/** Parses, checks and plans every statement of `sql` against the source schemas. */
export function planSql(
  sql: string,
  sources: ReadonlyMap<string, Schema>,
  options: PlanOptions = {},
): PlannedSql {
  const now = options.now ?? Timestamp.now();
  const src = new SourceText(sql);
  const tokens = tokenize(sql);
  const asts = parse(src, tokens);
  if (asts.length === 0)
    throw new SqlError('the SQL text has no statements; write e.g. SELECT * FROM trips INTO all_trips');
  const layouts = layoutStatements(tokens);
  const whole: StatementLayout = {
    start: 0,
    end: sql.length,
    tokens,
    selectItems: [],
    from: null,
    where: null,
    into: null,
  };
  const aligned = layouts.length === asts.length;
  const parsed = asts.map((ast, index) => checkStatement(src, ast, index, aligned ? layouts[index]! : whole));

  const producers = new Map<string, Parsed>();
  for (const p of parsed) {
    const clash = [...producers.keys()].find((k) => k.toLowerCase() === p.into.toLowerCase());
    if (clash !== undefined) {
      throw src.error(
        `output table "${p.into}" is written by two statements`,
        intoAt(p),
        'give each statement its own INTO name',
      );
    }
    if (lookupName(sources, p.into) !== undefined) {
      throw src.error(
        `output table "${p.into}" has the name of a source table`,
        intoAt(p),
        'choose another INTO name',
      );
    }
    producers.set(p.into, p);
  }

  // Resolve each table named in FROM to a source or a statement output.
  const dependsOn = new Map<Parsed, { dep: Parsed; at: number }[]>();
  const resolved = new Map<Parsed, Map<string, string>>();
  for (const p of parsed) {
    const deps: { dep: Parsed; at: number }[] = [];
    const names = new Map<string, string>();
    for (const ref of p.refs) {
      const producer = lookupName(producers, ref.name);
      if (producer !== undefined) {
        deps.push({ dep: producers.get(producer)!, at: ref.at });
        names.set(ref.name, producer);
        continue;
      }
      const source = lookupName(sources, ref.name);
      if (source === undefined) {
        const known = [...sources.keys()]
          .map((k) => `${k} (source)`)
          .concat([...producers.keys()].map((k) => `${k} (output)`));
        throw src.error(`unknown table "${ref.name}"`, ref.at, `known tables: ${known.join(', ') || 'none'}`);
      }
      names.set(ref.name, source);
    }
    dependsOn.set(p, deps);
    resolved.set(p, names);
  }

  const order = topologicalOrder(src, parsed, dependsOn);
  const outputs = new Map<string, Schema>();
  const statements: StatementPlan[] = [];
  const inputs: string[] = [];
  for (const p of order) {
    const names = resolved.get(p)!;
    const tables = new Map<string, Schema>();
    for (const [name, target] of names) {
      const schema = outputs.get(target) ?? sources.get(target)!;
      tables.set(name, schema);
      if (!outputs.has(target) && !inputs.includes(target)) inputs.push(target);
    }
    const planner = new QueryPlanner(src, p, names, tables, now);
    const root = pushRowNumberLimits(planner.planStatement());
    outputs.set(p.into, root.schema);
    const reads: string[] = [];
    collectScans(root, reads);
    statements.push({ index: p.index, into: p.into, inputs: reads, root });
  }
  // Report outputs in the order the statements were written.
  const ordered = new Map(parsed.map((p) => [p.into, outputs.get(p.into)!]));
  return { statements, inputs, outputs: ordered, now };
}

function collectScans(node: PlanNode, into: string[]): void {
  if (node.kind === 'scan') {
    if (!into.includes(node.table)) into.push(node.table);
    return;
  }
  if (node.kind === 'one-row') return;
  if (node.kind === 'join') {
    collectScans(node.left, into);
    collectScans(node.right, into);
  } else if (node.kind === 'union') for (const i of node.inputs) collectScans(i, into);
  else collectScans(node.input, into);
}

/**
 * node-sql-parser knows no POINT type name: in type position (after `::`,
 * or after AS inside CAST(…)) `point` is swapped for `money`, a name of the
 * same length that it does parse and that no core type uses, so every
 * offset stays where it was; the binder reads `point` back from the tokens
 * of the original text.
 */
function withPointType(text: string, tokens: readonly Token[]): string {
  let out = text;
  const parens: boolean[] = [];
  tokens.forEach((t, i) => {
    const prev = tokens[i - 1];
    if (t.kind === 'punct' && t.value === '(') {
      parens.push(prev?.kind === 'ident' && /^(try_)?cast$/i.test(prev.value));
    } else if (t.kind === 'punct' && t.value === ')') parens.pop();
    else if (t.kind === 'ident' && t.value.toLowerCase() === 'point' && prev !== undefined) {
      const typePosition =
        (prev.kind === 'punct' && prev.value === '::') ||
        (prev.kind === 'ident' && prev.value.toUpperCase() === 'AS' && parens[parens.length - 1] === true);
      if (typePosition) out = `${out.slice(0, t.start)}money${out.slice(t.end)}`;
    }
  });
  return out;
}

function parse(src: SourceText, tokens: readonly Token[]): Ast[] {
  const parser = new NodeSqlParser.Parser();
  let result: unknown;
  try {
    result = parser.astify(withPointType(src.text, tokens), {
      database: 'postgresql',
      parseOptions: { includeLocations: true },
    });
  } catch (e) {
    const err = e as { location?: { start?: { offset?: number } }; found?: string | null };
    const offset = err.location?.start?.offset;
    if (typeof offset !== 'number')
      throw new SqlError(`SQL does not parse: ${String((e as Error).message)}`, null, { cause: e });
    const near =
      err.found === null || err.found === undefined
        ? 'unexpected end of the SQL text'
        : `unexpected "${err.found}"`;
    throw src.error('syntax error', offset, near, e);
  }
  return (Array.isArray(result) ? result : [result]).filter(isAst);
}

function intoAt(p: Parsed): number {
  return p.layout.into?.start ?? p.layout.start;
}

/** The parts of a set operation chain: `a UNION b UNION ALL c` → [a, b, c] with their operators. */
function setParts(ast: Ast): { ast: Ast; op: string | null }[] {
  const parts: { ast: Ast; op: string | null }[] = [];
  let cur: Ast | null = ast;
  let op: string | null = null;
  while (cur !== null) {
    parts.push({ ast: cur, op });
    op = typeof cur.set_op === 'string' ? cur.set_op.toLowerCase() : null;
    cur = isAst(cur._next) ? cur._next : null;
  }
  return parts;
}

function intoName(ast: Ast): string {
  const intoNode = isAst(ast.into) ? ast.into : null;
  return typeof intoNode?.expr === 'string'
    ? intoNode.expr
    : isAst(intoNode?.expr)
      ? String(intoNode.expr.value ?? '')
      : '';
}

function fromItems(ast: Ast): Ast[] {
  return Array.isArray(ast.from) ? ast.from.filter(isAst) : [];
}

function cteName(c: Ast): string {
  const n = c.name;
  return isAst(n) ? String(n.value ?? '') : String(n ?? '');
}

function tableFunctionName(expr: Ast): string {
  const name = expr.name as Ast | undefined;
  return Array.isArray(name?.name) ? String((name.name as Ast[])[0]?.value ?? '') : '';
}

/** Checks the statement's shape and extracts INTO and the tables it reads. */
function checkStatement(src: SourceText, ast: Ast, index: number, layout: StatementLayout): Parsed {
  if (ast.type !== 'select') {
    throw src.error(
      `only SELECT … INTO statements are supported, got ${String(ast.type).toUpperCase()}`,
      layout.start,
      'write SELECT … FROM … INTO <output>',
    );
  }
  const into = setParts(ast)
    .map((p) => intoName(p.ast))
    .find((n) => n !== '');
  if (into === undefined) {
    throw src.error(
      `statement ${index + 1} has no INTO clause`,
      layout.start,
      'every statement names its output table, e.g. SELECT * FROM trips WHERE price > 10 INTO expensive_trips',
    );
  }
  const refs: TableRef[] = [];
  const refAt = (name: string): number => findName(layout.tokens, layout, name)?.start ?? layout.start;
  const visit = (q: Ast, ctes: ReadonlySet<string>): void => {
    const inner = new Set(ctes);
    for (const c of Array.isArray(q.with) ? q.with.filter(isAst) : []) {
      if (isAst(c.stmt)) visit(isAst(c.stmt.ast) ? c.stmt.ast : c.stmt, inner);
      inner.add(cteName(c).toLowerCase());
    }
    for (const part of setParts(q)) {
      for (const sub of nestedSelects(part.ast.where)) visit(sub, inner);
      for (const item of fromItems(part.ast)) {
        const expr = isAst(item.expr) ? item.expr : null;
        if (expr !== null && isAst(expr.ast)) visit(expr.ast, inner);
        else if (expr !== null && expr.type === 'function') {
          // TUMBLE(t, …), HOP(t, …), TTL(TUMBLE(t, …), …): the innermost first argument is the table.
          let first: unknown = expr;
          while (isAst(first) && first.type === 'function')
            first = (isAst(first.args) && Array.isArray(first.args.value) ? first.args.value : [])[0];
          if (isAst(first) && first.type === 'column_ref') {
            const name = columnName(first);
            if (name && !inner.has(name.toLowerCase())) refs.push({ name, at: refAt(name) });
          }
        } else if (typeof item.table === 'string') {
          const table = item.table;
          const name = typeof item.db === 'string' && item.db !== '' ? `${item.db}.${table}` : table;
          if (!inner.has(name.toLowerCase()))
            refs.push({
              name,
              at: refAt(typeof item.db === 'string' && item.db !== '' ? item.db : table),
            });
        }
      }
    }
  };
  visit(ast, new Set());
  return { index, ast, layout, into, refs };
}

/** Exact name, else the one name equal ignoring case (SQL folds unquoted names). */
function lookupName<V>(map: ReadonlyMap<string, V>, name: string): string | undefined {
  if (map.has(name)) return name;
  const matches = [...map.keys()].filter((k) => k.toLowerCase() === name.toLowerCase());
  return matches.length === 1 ? matches[0] : undefined;
}

function topologicalOrder(
  src: SourceText,
  parsed: readonly Parsed[],
  dependsOn: ReadonlyMap<Parsed, readonly { dep: Parsed; at: number }[]>,
): Parsed[] {
  const order: Parsed[] = [];
  const state = new Map<Parsed, 'visiting' | 'done'>();
  const visit = (p: Parsed, path: Parsed[]): void => {
    const s = state.get(p);
    if (s === 'done') return;
    if (s === 'visiting') {
      const loop = [...path.slice(path.indexOf(p)), p];
      const cycle = loop.map((q) => q.into);
      const at = dependsOn.get(p)?.find((d) => d.dep === loop[1])?.at ?? p.layout.start;
      throw src.error(
        `statements form a cycle: ${cycle.join(' → ')}`,
        at,
        'a statement may read only sources and the outputs of statements that do not read it back',
      );
    }
    state.set(p, 'visiting');
    for (const d of dependsOn.get(p) ?? []) visit(d.dep, [...path, p]);
    state.set(p, 'done');
    order.push(p);
  };
  for (const p of parsed) visit(p, []);
  return order;
}

/** A planned FROM item or join tree: its plan and the names its columns go by. */
interface Relation {
  readonly node: PlanNode;
  readonly scope: Scope;
}

const AGGREGATES: { readonly [name: string]: AggregateFunction } = {
  COUNT: 'count',
  SUM: 'sum',
  AVG: 'avg',
  MIN: 'min',
  MAX: 'max',
};

/** Plans one statement: FROM, WHERE, GROUP BY, HAVING, select list, DISTINCT, set operations, ORDER BY … LIMIT. */
class QueryPlanner {
  private readonly src: SourceText;
  private readonly layout: StatementLayout;

  constructor(
    src: SourceText,
    private readonly p: Parsed,
    /** FROM names → resolved table names. */
    private readonly names: ReadonlyMap<string, string>,
    /** FROM names → schemas. */
    private readonly tables: ReadonlyMap<string, Schema>,
    private readonly now: Timestamp,
  ) {
    this.src = src;
    this.layout = p.layout;
  }

  planStatement(): PlanNode {
    return this.planQuery(this.p.ast, new Map(), true);
  }

  private error(what: string, at: number, hint?: string): SqlError {
    return this.src.error(what, at, hint);
  }

  private kwAt(kw: string): number {
    return findName(this.layout.tokens, this.layout, kw)?.start ?? this.layout.start;
  }

  private binder(scope: Scope | null, hooks: BindHooks = {}): ExprBinder {
    return new ExprBinder(this.src, this.layout.tokens, scope, hooks, this.now);
  }

  private planQuery(ast: Ast, outerCtes: ReadonlyMap<string, Ast>, top: boolean): PlanNode {
    const ctes = new Map(outerCtes);
    for (const c of Array.isArray(ast.with) ? ast.with.filter(isAst) : []) {
      const stmt = isAst(c.stmt) ? (isAst(c.stmt.ast) ? c.stmt.ast : c.stmt) : null;
      if (stmt === null) throw this.error('malformed WITH clause', this.kwAt('WITH'));
      if (c.recursive) throw this.error('WITH RECURSIVE is not supported', this.kwAt('RECURSIVE'));
      ctes.set(cteName(c).toLowerCase(), stmt);
    }
    const parts = setParts(ast);
    let node = this.planSelect(parts[0]!.ast, ctes, top && parts.length === 1, top);
    for (let i = 1; i < parts.length; i++) {
      const op = parts[i]!.op ?? 'union';
      const at = this.kwAt(op.split(' ')[0]!.toUpperCase());
      if (op !== 'union' && op !== 'union all' && op !== 'union distinct') {
        throw this.error(
          `${op.toUpperCase()} is not supported`,
          at,
          'supported set operations: UNION, UNION ALL',
        );
      }
      const next = this.planSelect(parts[i]!.ast, ctes, false, false);
      node = this.union(node, next, at);
      if (op !== 'union all') node = this.distinct(node);
    }
    return node;
  }

  private union(a: PlanNode, b: PlanNode, at: number): PlanNode {
    const fa = a.schema.fields;
    const fb = b.schema.fields;
    if (fa.length !== fb.length) {
      throw this.error(
        `each UNION query must have the same number of columns: ${fa.length} and ${fb.length}`,
        at,
        'select the same columns in every part',
      );
    }
    const types = fa.map((f, i) => {
      const t = commonType(f.type, fb[i]!.type);
      if (t === null || t === 'null') {
        throw this.error(
          `UNION column ${i + 1} ("${f.name}") has incompatible types ${f.type} and ${fb[i]!.type}`,
          at,
          'CAST one of them',
        );
      }
      return t;
    });
    const conform = (n: PlanNode): PlanNode => {
      const needs = n.schema.fields.some((f, i) => f.type !== types[i]);
      if (!needs) return n;
      const binder = this.binder(null);
      const exprs = n.schema.fields.map((f, i): Expr => {
        const col: Expr = {
          kind: 'column',
          type: f.type,
          nullable: f.nullable,
          at,
          where: `in UNION column ${i + 1}`,
          index: i,
          name: f.name,
        };
        return binder.coerce(col, types[i]!, `UNION column ${i + 1}`);
      });
      return {
        kind: 'project',
        input: n,
        exprs,
        schema: {
          fields: n.schema.fields.map((f, i) => plainField(f.name, types[i]!, f.nullable)),
          primaryKey: [],
        },
      };
    };
    const left = conform(a);
    const right = conform(b);
    const inputs = [...(left.kind === 'union' ? left.inputs : [left]), right];
    return {
      kind: 'union',
      inputs,
      schema: {
        fields: fa.map((f, i) => plainField(f.name, types[i]!, f.nullable || fb[i]!.nullable)),
        primaryKey: [],
      },
    };
  }

  /** DISTINCT: a grouping on every column, without aggregates. */
  private distinct(node: PlanNode): PlanNode {
    const keys = node.schema.fields.map(
      (f, i): Expr => ({
        kind: 'column',
        type: f.type,
        nullable: f.nullable,
        at: this.layout.start,
        where: 'in DISTINCT',
        index: i,
        name: f.name,
        ...(f.precision === undefined ? {} : { precision: f.precision }),
        ...(f.scale === undefined ? {} : { scale: f.scale }),
      }),
    );
    return {
      kind: 'aggregate',
      input: node,
      keys,
      aggs: [],
      global: false,
      schema: { fields: node.schema.fields, primaryKey: node.schema.fields.map((_, i) => i) },
    };
  }

  private planSelect(ast: Ast, ctes: ReadonlyMap<string, Ast>, useSpans: boolean, top: boolean): PlanNode {
    if (
      !top &&
      intoName(ast) !== '' &&
      ast !== this.p.ast &&
      !setParts(this.p.ast).some((x) => x.ast === ast)
    ) {
      throw this.error(
        'INTO is only allowed at the top of a statement',
        this.layout.into?.start ?? this.layout.start,
      );
    }
    if (ast.window) throw this.error('a WINDOW clause is not supported', this.kwAt('WINDOW'));
    const rel = this.planFrom(fromItems(ast), ctes);
    let node = rel?.node ?? { kind: 'one-row', schema: { fields: [], primaryKey: [] } };
    const scope = rel?.scope ?? null;
    const whereAst = isAst(ast.where) ? ast.where : null;
    if (whereAst !== null) {
      const sub = this.whereSubqueries(node, whereAst, ctes);
      const predicate = this.binder(scope, sub.hooks).bindCondition(
        whereAst,
        this.layout.where ?? this.layout,
        'WHERE',
      );
      const joined = pushEqualitiesIntoJoins(sub.node(), conjuncts(predicate));
      const filtered: PlanNode = { kind: 'filter', input: joined, predicate, schema: joined.schema };
      // Back to the input's columns when subqueries were joined in.
      node =
        joined.schema.fields.length === node.schema.fields.length
          ? filtered
          : {
              kind: 'project',
              input: filtered,
              exprs: node.schema.fields.map((f, i) => this.fieldColumn(f, i)),
              schema: node.schema,
            };
    }
    const columns = Array.isArray(ast.columns) ? ast.columns.filter(isAst) : [];
    const itemSpans =
      useSpans && this.layout.selectItems.length === columns.length ? this.layout.selectItems : null;
    const spanOf = (i: number): Span => itemSpans?.[i] ?? this.layout;
    const groupAsts =
      isAst(ast.groupby) && Array.isArray(ast.groupby.columns) ? ast.groupby.columns.filter(isAst) : [];
    const havingAst = isAst(ast.having) ? ast.having : null;
    const grouped =
      groupAsts.length > 0 || havingAst !== null || columns.some((c) => containsAggregate(c.expr));

    let exprs: Expr[];
    let names: string[];
    let nameAt: number[];
    if (grouped) {
      ({ node, exprs, names, nameAt } = this.planGrouped(node, scope, columns, spanOf, groupAsts, havingAst));
    } else {
      let rowNumber: { partition: Expr[]; order: SortKey[]; at: number } | null = null;
      const inputWidth = node.schema.fields.length;
      const hooks: BindHooks = {
        clause: 'the select list',
        window: (w, span) => {
          const name = String(w.name ?? (isAst(w.name) ? '' : '')).toUpperCase() || fnName(w);
          if (name !== 'ROW_NUMBER') {
            throw this.error(
              `window function ${name}() is not supported`,
              span.start,
              'the supported window function is ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)',
            );
          }
          if (rowNumber !== null)
            throw this.error('only one ROW_NUMBER() per query is supported', span.start);
          const spec = windowSpec(w);
          const b = this.binder(scope, { clause: 'OVER (…)' });
          const partition = (spec.partitionby ?? []).map((x) => b.bind(x, span));
          const order = this.sortKeys(spec.orderby ?? [], (x) => b.bind(x, span));
          if (order.length === 0) {
            throw this.error(
              'ROW_NUMBER() needs ORDER BY in its OVER (…)',
              span.start,
              'e.g. OVER (PARTITION BY city ORDER BY fare DESC)',
            );
          }
          rowNumber = { partition, order, at: span.start };
          return {
            kind: 'column',
            type: 'int',
            nullable: false,
            at: span.start,
            where: `in "${b.fragmentOf(span)}"`,
            index: inputWidth,
            name: 'row_number',
          };
        },
      };
      const binder = this.binder(scope, hooks);
      ({ exprs, names, nameAt } = this.selectList(columns, spanOf, scope, binder, (e) => e));
      if (rowNumber !== null) {
        const rn = rowNumber as { partition: Expr[]; order: SortKey[] };
        const inFields = node.schema.fields;
        const partCols = rn.partition.every((e) => e.kind === 'column');
        node = {
          kind: 'top-n',
          input: node,
          partition: rn.partition,
          order: rn.order,
          limit: Number.POSITIVE_INFINITY,
          rowNumber: true,
          schema: {
            fields: [...inFields, plainField('row_number', 'int', false)],
            primaryKey: partCols
              ? [...rn.partition.map((e) => (e as { index: number }).index), inFields.length]
              : node.schema.primaryKey,
          },
        };
      }
    }
    this.checkDuplicates(names, nameAt);
    const fields: FieldDefinition[] = exprs.map((e, i) => fieldOf(names[i]!, e));
    node = {
      kind: 'project',
      input: node,
      exprs,
      schema: { fields, primaryKey: keptKey(node.schema, exprs) },
    };
    const distinct = isAst(ast.distinct) ? ast.distinct.type : ast.distinct;
    if (distinct) {
      if (String(distinct).toUpperCase() !== 'DISTINCT')
        throw this.error(`SELECT ${String(distinct)} is not supported`, this.kwAt('DISTINCT'));
      node = this.distinct(node);
    }
    return this.orderLimit(ast, node);
  }

  /**
   * Subqueries in WHERE. `x IN (SELECT y …)` ANDed into the condition is a
   * semi-join: the input joined on x = y with the distinct values of y (the
   * condition itself becomes TRUE). A scalar subquery must be a whole-input
   * aggregate, so it always has exactly one row: the input is joined with
   * that row and the subquery reads its column. Joined columns come after
   * the input's, so the input's column indexes stay valid; the filter's
   * output keeps the input's schema.
   */
  private whereSubqueries(
    input: PlanNode,
    whereAst: Ast,
    ctes: ReadonlyMap<string, Ast>,
  ): { hooks: BindHooks; node: () => PlanNode } {
    let node = input;
    const topLevel = new Set(conjunctAsts(whereAst));
    const subPlan = (select: Ast, span: Span, what: string): PlanNode => {
      const sub = this.planQuery(select, ctes, false);
      if (sub.schema.fields.length !== 1) {
        throw this.error(
          `${what} must select exactly one column, got ${sub.schema.fields.length} in "${this.binder(null).fragmentOf(span)}"`,
          span.start,
        );
      }
      return sub;
    };
    const joinWith = (right: PlanNode, leftKeys: Expr[], rightKeys: Expr[]): number => {
      const at = node.schema.fields.length;
      node = {
        kind: 'join',
        joinType: 'inner',
        left: node,
        right,
        leftKeys,
        rightKeys,
        residual: null,
        schema: {
          fields: [...node.schema.fields, ...right.schema.fields],
          // Each input row meets at most one row of the right side: the input's key stays a key.
          primaryKey: node.schema.primaryKey,
        },
      };
      return at;
    };
    const column = (index: number, f: FieldDefinition, span: Span): Expr => ({
      kind: 'column',
      type: f.type,
      nullable: f.nullable,
      at: span.start,
      where: `in "${this.binder(null).fragmentOf(span)}" ${this.src.where(span.start)}`,
      ...(f.precision === undefined ? {} : { precision: f.precision }),
      ...(f.scale === undefined ? {} : { scale: f.scale }),
      index,
      name: f.name,
    });
    const hooks: BindHooks = {
      clause: 'WHERE',
      subquery: (select, span) => {
        const sub = subPlan(select, span, 'a scalar subquery');
        if (!alwaysOneRow(sub)) {
          throw this.error(
            `a scalar subquery must aggregate its whole input (one row, always) in "${this.binder(null).fragmentOf(span)}"`,
            span.start,
            'e.g. (SELECT MAX(b) FROM t); for other subqueries join them in FROM',
          );
        }
        const at = joinWith(sub, [], []);
        return column(at, sub.schema.fields[0]!, span);
      },
      inSubquery: (inAst, operand, select, negated, span, subSpan) => {
        const frag = this.binder(null).fragmentOf(span);
        if (negated || !topLevel.has(inAst)) {
          throw this.error(
            `${negated ? 'NOT IN (SELECT …)' : 'IN (SELECT …) inside OR, NOT or an expression'} is not supported in "${frag}"`,
            span.start,
            'x IN (SELECT …) is supported as a condition ANDed into WHERE; for NOT IN, LEFT JOIN the subquery and keep the rows without a match',
          );
        }
        const sub = this.distinct(subPlan(select, subSpan, 'the subquery of IN'));
        const f = sub.schema.fields[0]!;
        const b = this.binder(null);
        const u = b.unify([operand, column(0, f, span)], `IN (SELECT …) in "${frag}"`, span.start);
        if (u.type === 'json' || u.type === 'point') {
          throw this.error(`IN (SELECT …) cannot compare values of type ${u.type} in "${frag}"`, span.start);
        }
        joinWith(sub, [u.args[0]!], [u.args[1]!]);
        return {
          kind: 'literal',
          type: 'boolean',
          nullable: false,
          at: span.start,
          where: `in "${frag}"`,
          value: true,
          fromString: false,
        };
      },
    };
    return { hooks, node: () => node };
  }

  private fieldColumn(f: FieldDefinition, index: number): Expr {
    return {
      kind: 'column',
      type: f.type,
      nullable: f.nullable,
      at: this.layout.start,
      where: 'in WHERE',
      ...(f.precision === undefined ? {} : { precision: f.precision }),
      ...(f.scale === undefined ? {} : { scale: f.scale }),
      index,
      name: f.name,
    };
  }

  private orderLimit(ast: Ast, node: PlanNode): PlanNode {
    const orderAsts = Array.isArray(ast.orderby) ? ast.orderby.filter(isAst) : [];
    const limitVals = isAst(ast.limit) && Array.isArray(ast.limit.value) ? ast.limit.value.filter(isAst) : [];
    if (limitVals.length === 0) return node; // ORDER BY alone does not change a table's contents.
    if (limitVals.length > 1 || (isAst(ast.limit) && ast.limit.seperator === 'offset')) {
      throw this.error('OFFSET is not supported', this.kwAt('OFFSET'), 'use ORDER BY … LIMIT n');
    }
    const lim = limitVals[0]!;
    const n = Number(lim.value);
    if (lim.type !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw this.error('LIMIT takes a non-negative integer literal', this.kwAt('LIMIT'));
    }
    if (orderAsts.length === 0) {
      throw this.error(
        'LIMIT without ORDER BY is not supported',
        this.kwAt('LIMIT'),
        'which rows are kept must not depend on arrival order; add ORDER BY',
      );
    }
    const scope: Scope = { relations: [{ table: this.p.into, alias: null, schema: node.schema, offset: 0 }] };
    const b = this.binder(scope, { clause: 'ORDER BY' });
    const order = this.sortKeys(orderAsts, (x) => {
      if (x.type === 'number') {
        const i = Number(x.value) - 1;
        const f = node.schema.fields[i];
        if (f === undefined)
          throw this.error(`ORDER BY position ${x.value} is not in the select list`, this.kwAt('ORDER'));
        return {
          kind: 'column',
          type: f.type,
          nullable: f.nullable,
          at: this.kwAt('ORDER'),
          where: 'in ORDER BY',
          index: i,
          name: f.name,
        };
      }
      return b.bind(x, this.layout);
    });
    return {
      kind: 'top-n',
      input: node,
      partition: [],
      order,
      limit: n,
      rowNumber: false,
      schema: node.schema,
    };
  }

  private sortKeys(items: readonly Ast[], bind: (a: Ast) => Expr): SortKey[] {
    return items.filter(isAst).map((o) => {
      const inner = isAst(o.expr) ? o.expr : null;
      if (inner === null) throw this.error('malformed ORDER BY', this.kwAt('ORDER'));
      const desc = String(o.type ?? 'ASC').toUpperCase() === 'DESC';
      const nulls = typeof o.nulls === 'string' ? o.nulls.toUpperCase() : null;
      // PostgreSQL: NULLs sort as larger than everything (last ascending, first descending).
      const nullsFirst = nulls === null ? desc : nulls.includes('FIRST');
      return { expr: bind(inner), desc, nullsFirst };
    });
  }

  private checkDuplicates(names: readonly string[], nameAt: readonly number[]): void {
    names.forEach((name, i) => {
      const first = names.indexOf(name);
      if (first !== i) {
        throw this.error(
          `duplicate output column "${name}" in the select list of ${this.p.into}`,
          nameAt[i]!,
          'give one of them another name with AS',
        );
      }
    });
  }

  private selectList(
    columns: readonly Ast[],
    spanOf: (i: number) => Span,
    scope: Scope | null,
    binder: ExprBinder,
    finish: (e: Expr) => Expr,
  ): { exprs: Expr[]; names: string[]; nameAt: number[] } {
    const exprs: Expr[] = [];
    const names: string[] = [];
    const nameAt: number[] = [];
    columns.forEach((col, i) => {
      const span = spanOf(i);
      const expr = isAst(col.expr) ? col.expr : null;
      if (expr === null) throw this.error('malformed select list item', span.start);
      if (expr.type === 'column_ref' && expr.column === '*') {
        const qualifier = typeof expr.table === 'string' ? expr.table : null;
        if (scope === null) throw this.error('SELECT * needs a FROM clause', span.start);
        let rels = scope.relations;
        if (qualifier !== null) {
          rels = rels.filter((r) => (r.alias ?? r.table).toLowerCase() === qualifier.toLowerCase());
          if (rels.length === 0) {
            const only = scope.relations.length === 1 ? scope.relations[0]! : null;
            throw this.error(
              `unknown table "${qualifier}" in "${qualifier}.*"`,
              span.start,
              only
                ? `the FROM table is ${only.alias ? `${only.table} AS ${only.alias}` : only.table}`
                : `tables in FROM: ${scope.relations.map((r) => r.alias ?? r.table).join(', ')}`,
            );
          }
        }
        for (const r of rels) {
          r.schema.fields.forEach((f, index) => {
            exprs.push(
              finish({
                kind: 'column',
                type: f.type,
                nullable: f.nullable,
                at: span.start,
                where: `in "${this.src.slice(span)}" ${this.src.where(span.start)}`,
                ...(f.precision === undefined ? {} : { precision: f.precision }),
                ...(f.scale === undefined ? {} : { scale: f.scale }),
                index: r.offset + index,
                name: f.name,
              }),
            );
            names.push(f.name);
            nameAt.push(span.start);
          });
        }
        return;
      }
      const e = finish(binder.bind(expr, span));
      exprs.push(e);
      const alias = typeof col.as === 'string' ? col.as : isAst(col.as) ? String(col.as.value ?? '') : null;
      names.push(alias ?? naturalName(e) ?? `expr_${i + 1}`);
      nameAt.push(span.start);
    });
    return { exprs, names, nameAt };
  }

  private planGrouped(
    input: PlanNode,
    scope: Scope | null,
    columns: readonly Ast[],
    spanOf: (i: number) => Span,
    groupAsts: readonly Ast[],
    havingAst: Ast | null,
  ): { node: PlanNode; exprs: Expr[]; names: string[]; nameAt: number[] } {
    const plain = this.binder(scope, { clause: 'GROUP BY' });
    // GROUP BY items: input expressions, select list positions, or output aliases.
    const keys: Expr[] = groupAsts.map((g) => {
      if (g.type === 'number') {
        const i = Number(g.value) - 1;
        const item = columns[i];
        if (item === undefined || !isAst(item.expr))
          throw this.error(
            `GROUP BY position ${String(g.value)} is not in the select list`,
            this.kwAt('GROUP'),
          );
        return plain.bind(item.expr, spanOf(i));
      }
      if (g.type === 'column_ref' && g.table === null) {
        try {
          return plain.bind(g, this.layout);
        } catch (err) {
          const name = columnName(g);
          const i = columns.findIndex(
            (c) => (typeof c.as === 'string' ? c.as : null)?.toLowerCase() === name.toLowerCase(),
          );
          const item = columns[i];
          if (item === undefined || !isAst(item.expr)) throw err;
          return plain.bind(item.expr, spanOf(i));
        }
      }
      return plain.bind(g, this.layout);
    });
    const aggs: AggregateCall[] = [];
    const aggTypes: { type: SqlType; nullable: boolean; name: string }[] = [];
    const slots = new Map<string, number>();
    const hooks: BindHooks = {
      clause: 'the select list',
      aggregate: (a, span) => {
        const fname = String(a.name ?? '').toUpperCase();
        let fn = AGGREGATES[fname];
        const b = this.binder(scope, { clause: 'an aggregate argument' });
        const frag = b.fragmentOf(span);
        if (fn === undefined) {
          throw this.error(
            `unknown aggregate function ${fname}() in "${frag}"`,
            span.start,
            'aggregates: COUNT, SUM, AVG, MIN, MAX',
          );
        }
        const args = isAst(a.args) ? a.args : {};
        const argAst = isAst(args.expr) ? args.expr : null;
        const distinct = typeof args.distinct === 'string' && args.distinct.toUpperCase() === 'DISTINCT';
        let arg: Expr | null = null;
        if (argAst === null || argAst.type === 'star') {
          if (fn !== 'count' || distinct)
            throw this.error(`${fname}(*) is not valid in "${frag}"`, span.start, 'only COUNT(*) takes *');
          fn = 'count-star';
        } else {
          arg = b.bind(argAst, span);
          if (distinct) {
            if (fn !== 'count')
              throw this.error(
                `${fname}(DISTINCT …) is not supported in "${frag}"`,
                span.start,
                'DISTINCT is supported in COUNT(DISTINCT x)',
              );
            fn = 'count-distinct';
          }
        }
        // FILTER (WHERE c): the aggregate sees only the rows where c is TRUE, i.e. CASE WHEN c THEN x END
        // (NULLs are skipped by every aggregate but COUNT(*), which becomes COUNT(CASE WHEN c THEN 1 END)).
        const filterAst = isAst(a.filter) && isAst(a.filter.where) ? a.filter.where : null;
        let filterText = '';
        if (filterAst !== null) {
          const cond = b.bindCondition(filterAst, span, 'FILTER');
          filterText = ` FILTER (WHERE ${b.fragmentOf(b.locate(filterAst, span))})`;
          const inner: Expr = arg ?? {
            kind: 'literal',
            type: 'int',
            nullable: false,
            at: span.start,
            where: `in "${frag}"`,
            value: 1n,
            fromString: false,
          };
          if (fn === 'count-star') fn = 'count';
          arg = {
            kind: 'case',
            type: inner.type,
            nullable: true,
            at: inner.at,
            where: inner.where,
            ...(inner.precision === undefined ? {} : { precision: inner.precision }),
            ...(inner.scale === undefined ? {} : { scale: inner.scale }),
            operand: null,
            compareType: null,
            whens: [{ when: cond, result: inner }],
            otherwise: null,
          };
        }
        let type: SqlType = 'int';
        let nullable = true;
        const at = arg?.type ?? 'null';
        switch (fn) {
          case 'count':
          case 'count-star':
          case 'count-distinct':
            nullable = false;
            break;
          case 'sum':
          case 'avg':
            if (!isNumeric(at) && at !== 'null') {
              throw this.error(
                `${fname} expects a number, got ${at} in "${frag}"`,
                span.start,
                'CAST the argument to a numeric type',
              );
            }
            type = at === 'null' ? 'decimal' : fn === 'avg' ? (at === 'float' ? 'float' : 'decimal') : at;
            if (at === 'null') arg = b.coerce(arg!, 'decimal', frag);
            break;
          case 'min':
          case 'max':
            if (at === 'json' || at === 'point')
              throw this.error(`${fname} cannot order values of type ${at} in "${frag}"`, span.start);
            type = at === 'null' ? 'string' : at;
            if (at === 'null') arg = b.coerce(arg!, 'string', frag);
            break;
        }
        const key = `${fn}:${arg === null ? '*' : exprKey(arg)}`;
        let slot = slots.get(key);
        if (slot === undefined) {
          slot = aggs.length;
          slots.set(key, slot);
          aggs.push({
            fn,
            arg,
            text: `${fname}(${distinct ? 'DISTINCT ' : ''}${argAst === null || argAst.type === 'star' ? '*' : argText(frag)})${filterText}`,
          });
          aggTypes.push({ type, nullable, name: fname.toLowerCase() });
        }
        return {
          kind: 'column',
          type,
          nullable,
          at: span.start,
          where: `in "${frag}"`,
          ...(type === 'decimal' && arg?.scale !== undefined && fn !== 'avg' ? { scale: arg.scale } : {}),
          index: -1 - slot,
          name: fname.toLowerCase(),
        };
      },
    };
    const binder = this.binder(scope, hooks);
    const nKeys = keys.length;
    const toOutput = (e: Expr): Expr =>
      rewriteExpr(e, (x) => {
        if (x.kind === 'column' && x.index < 0) {
          const slot = -1 - x.index;
          return { ...x, index: nKeys + slot };
        }
        const k = keys.findIndex((key) => sameExpr(key, x));
        if (k >= 0) {
          const key = keys[k]!;
          return {
            kind: 'column',
            type: key.type,
            nullable: key.nullable,
            at: x.at,
            where: x.where,
            ...(key.precision === undefined ? {} : { precision: key.precision }),
            ...(key.scale === undefined ? {} : { scale: key.scale }),
            index: k,
            name: naturalName(key) ?? `key_${k + 1}`,
          };
        }
        if (x.kind === 'column') {
          throw this.error(
            `column "${x.name}" must appear in GROUP BY or be used in an aggregate function`,
            x.at,
            groupAsts.length > 0
              ? 'add it to GROUP BY, or aggregate it (e.g. MIN, MAX)'
              : 'this query aggregates its whole input; add GROUP BY or aggregate the column',
          );
        }
        return undefined;
      });
    const { exprs, names, nameAt } = this.selectList(columns, spanOf, scope, binder, toOutput);
    let having: Expr | null = null;
    if (havingAst !== null) {
      having = toOutput(
        binder.withHooks({ ...hooks, clause: 'HAVING' }).bindCondition(havingAst, this.layout, 'HAVING'),
      );
    }
    const keyFields = keys.map((k, i) => fieldOf(naturalName(k) ?? `key_${i + 1}`, k));
    const aggFields = aggTypes.map((a, i) =>
      plainField(`${a.name}_${i + 1}`, a.type === 'null' ? 'string' : a.type, a.nullable),
    );
    let node: PlanNode = {
      kind: 'aggregate',
      input,
      keys,
      aggs,
      global: groupAsts.length === 0,
      schema: { fields: [...keyFields, ...aggFields], primaryKey: keys.map((_, i) => i) },
    };
    if (having !== null) node = { kind: 'filter', input: node, predicate: having, schema: node.schema };
    return { node, exprs, names, nameAt };
  }

  private planFrom(items: readonly Ast[], ctes: ReadonlyMap<string, Ast>): Relation | null {
    if (items.length === 0) return null;
    let acc = this.planFromItem(items[0]!, ctes, 0);
    for (let i = 1; i < items.length; i++) {
      const item = items[i]!;
      const right = this.planFromItem(item, ctes, acc.node.schema.fields.length);
      acc = this.join(acc, right, item);
    }
    return acc;
  }

  private join(left: Relation, right: Relation, item: Ast): Relation {
    const joinText = typeof item.join === 'string' ? item.join.toUpperCase() : 'CROSS JOIN';
    const at = this.kwAt('JOIN');
    let joinType: JoinType;
    if (joinText.startsWith('LEFT')) joinType = 'left';
    else if (joinText.startsWith('RIGHT')) joinType = 'right';
    else if (joinText.startsWith('FULL')) joinType = 'full';
    else if (joinText === 'INNER JOIN' || joinText === 'JOIN' || joinText === 'CROSS JOIN')
      joinType = 'inner';
    else
      throw this.error(
        `${joinText} is not supported`,
        at,
        'supported: [INNER] JOIN, LEFT, RIGHT, FULL [OUTER] JOIN, CROSS JOIN',
      );
    const nL = left.node.schema.fields.length;
    const nullL = joinType === 'right' || joinType === 'full';
    const nullR = joinType === 'left' || joinType === 'full';
    const relations: ScopeRelation[] = [
      ...left.scope.relations.map((r) => (nullL ? { ...r, schema: nullableSchema(r.schema) } : r)),
      ...right.scope.relations.map((r) => (nullR ? { ...r, schema: nullableSchema(r.schema) } : r)),
    ];
    const scope: Scope = { relations };
    const leftKeys: Expr[] = [];
    const rightKeys: Expr[] = [];
    const residual: Expr[] = [];
    if (Array.isArray(item.using) && item.using.length > 0) {
      throw this.error('JOIN … USING is not supported', at, 'write JOIN … ON a.x = b.x');
    }
    if (isAst(item.on) && item.on.type === 'expr_list') {
      throw this.error(
        'a comma after JOIN … ON … is read as part of the ON condition',
        this.kwAt('ON'),
        'write the next table as CROSS JOIN t or JOIN t ON …, or list all tables with commas before any JOIN',
      );
    }
    if (isAst(item.on)) {
      // The ON condition is bound over the joined row, with the sides' nullability before padding.
      const onScope: Scope = {
        relations: [...left.scope.relations, ...right.scope.relations],
      };
      const cond = this.binder(onScope, { clause: 'ON' }).bindCondition(item.on, this.layout, 'ON');
      for (const c of conjuncts(cond)) {
        if (c.kind === 'compare' && c.op === '=') {
          const lc = columnsOf(c.left);
          const rc = columnsOf(c.right);
          const allLeft = (s: Set<number>) => s.size > 0 && [...s].every((x) => x < nL);
          const allRight = (s: Set<number>) => s.size > 0 && [...s].every((x) => x >= nL);
          if (allLeft(lc) && allRight(rc)) {
            leftKeys.push(c.left);
            rightKeys.push(shiftColumns(c.right, -nL));
            continue;
          }
          if (allRight(lc) && allLeft(rc)) {
            leftKeys.push(c.right);
            rightKeys.push(shiftColumns(c.left, -nL));
            continue;
          }
        }
        residual.push(c);
      }
    } else if (joinText !== 'CROSS JOIN' && typeof item.join === 'string') {
      throw this.error(`${joinText} needs an ON condition`, at, 'e.g. JOIN b ON a.id = b.a_id');
    }
    const lf = left.node.schema.fields;
    const rf = right.node.schema.fields;
    const fields = [
      ...lf.map((f) => (nullL ? { ...f, nullable: true } : f)),
      ...rf.map((f) => (nullR ? { ...f, nullable: true } : f)),
    ];
    const lk = left.node.schema.primaryKey;
    const rk = right.node.schema.primaryKey;
    const primaryKey = lk.length > 0 && rk.length > 0 ? [...lk, ...rk.map((k) => k + nL)] : [];
    const node: PlanNode = {
      kind: 'join',
      joinType,
      left: left.node,
      right: right.node,
      leftKeys,
      rightKeys,
      residual: residual.reduce<Expr | null>(
        (a, c) =>
          a === null
            ? c
            : {
                kind: 'and',
                type: 'boolean',
                nullable: a.nullable || c.nullable,
                at: c.at,
                where: c.where,
                left: a,
                right: c,
              },
        null,
      ),
      schema: { fields, primaryKey },
    };
    return { node, scope };
  }

  private planFromItem(item: Ast, ctes: ReadonlyMap<string, Ast>, offset: number): Relation {
    const expr = isAst(item.expr) ? item.expr : null;
    const alias = typeof item.as === 'string' ? item.as : null;
    if (expr !== null && isAst(expr.ast)) {
      const node = this.planQuery(expr.ast, ctes, false);
      if (alias === null)
        throw this.error('a subquery in FROM needs an alias', this.kwAt('FROM'), 'write (SELECT …) AS s');
      return { node, scope: { relations: [{ table: alias, alias: null, schema: node.schema, offset }] } };
    }
    if (expr !== null && expr.type === 'function') return this.tableFunction(expr, alias, ctes, offset);
    if (expr !== null) throw this.error('unsupported FROM item', this.kwAt('FROM'));
    const table = typeof item.table === 'string' ? item.table : '';
    const name = typeof item.db === 'string' && item.db !== '' ? `${item.db}.${table}` : table;
    return this.namedRelation(name, alias, ctes, offset);
  }

  private namedRelation(
    name: string,
    alias: string | null,
    ctes: ReadonlyMap<string, Ast>,
    offset: number,
  ): Relation {
    const cte = ctes.get(name.toLowerCase());
    if (cte !== undefined) {
      // A CTE is planned where it is used: each reference gets its own operators.
      const inner = new Map(ctes);
      inner.delete(name.toLowerCase());
      const node = this.planQuery(cte, inner, false);
      return { node, scope: { relations: [{ table: name, alias, schema: node.schema, offset }] } };
    }
    const resolved = this.names.get(name);
    const schema = this.tables.get(name);
    if (resolved === undefined || schema === undefined) {
      throw this.error(`unknown table "${name}"`, this.kwAt('FROM'));
    }
    return {
      node: { kind: 'scan', table: resolved, schema },
      scope: { relations: [{ table: resolved, alias, schema, offset }] },
    };
  }

  private ttl(
    args: readonly Ast[],
    alias: string | null,
    ctes: ReadonlyMap<string, Ast>,
    offset: number,
    at: number,
  ): Relation {
    const usage = "TTL(table or TUMBLE(…) or HOP(…), time_column, '1 HOUR')";
    const [source, timeAst, ttlAst] = args;
    if (args.length !== 3 || source === undefined || timeAst === undefined || ttlAst === undefined) {
      throw this.error('TTL takes 3 arguments', at, `usage: ${usage}`);
    }
    const inner =
      source.type === 'function'
        ? this.tableFunction(source, null, ctes, 0)
        : source.type === 'column_ref'
          ? this.namedRelation(columnName(source), null, ctes, 0)
          : null;
    if (inner === null) throw this.error('TTL reads a table or a TUMBLE/HOP window', at, `usage: ${usage}`);
    const time = this.binder(inner.scope, { clause: 'TTL' }).bind(timeAst, this.layout);
    if (time.type !== 'timestamp' && time.type !== 'date') {
      throw this.error(`TTL needs a timestamp column, got ${time.type}`, time.at, `usage: ${usage}`);
    }
    const text = String(ttlAst.value ?? '');
    let ttl: bigint;
    try {
      const d = Duration.parse(text);
      if (d.months !== 0) throw new RangeError('months');
      ttl = intervalMicros(d);
    } catch {
      throw this.error(`invalid TTL interval '${text}'`, at, "write e.g. '1 HOUR' (no months or years)");
    }
    if (ttl < 0n) throw this.error(`TTL interval must not be negative ('${text}')`, at);
    const node: PlanNode = { kind: 'ttl', input: inner.node, time, ttl, schema: inner.node.schema };
    const rel = inner.scope.relations[0]!;
    return {
      node,
      scope: { relations: [{ table: alias ?? rel.table, alias: null, schema: node.schema, offset }] },
    };
  }

  private tableFunction(
    expr: Ast,
    alias: string | null,
    ctes: ReadonlyMap<string, Ast>,
    offset: number,
  ): Relation {
    const fname = tableFunctionName(expr).toUpperCase();
    const at = findName(this.layout.tokens, this.layout, fname)?.start ?? this.kwAt('FROM');
    const args = isAst(expr.args) && Array.isArray(expr.args.value) ? expr.args.value.filter(isAst) : [];
    if (fname === 'TTL') return this.ttl(args, alias, ctes, offset, at);
    if (fname !== 'TUMBLE' && fname !== 'HOP') {
      throw this.error(
        `unknown table function ${fname}(…) in FROM`,
        at,
        "table functions: TUMBLE(t, time_col, '5 MINUTES'), HOP(t, time_col, hop, size), TTL(t or TUMBLE/HOP(…), time_col, '1 HOUR')",
      );
    }
    const want = fname === 'TUMBLE' ? 3 : 4;
    const usage =
      fname === 'TUMBLE'
        ? "TUMBLE(table, time_column, '5 MINUTES')"
        : "HOP(table, time_column, '1 MINUTE', '5 MINUTES')";
    if (args.length !== want || args[0]!.type !== 'column_ref') {
      throw this.error(`${fname} takes ${want} arguments`, at, `usage: ${usage}`);
    }
    const tableName = columnName(args[0]!);
    const inner = this.namedRelation(tableName, null, ctes, 0);
    const time = this.binder(inner.scope, { clause: fname }).bind(args[1]!, this.layout);
    if (time.type !== 'timestamp' && time.type !== 'date') {
      throw this.error(`${fname} needs a timestamp column, got ${time.type}`, time.at, `usage: ${usage}`);
    }
    const durations = args.slice(2).map((a) => {
      const text = String(a.value ?? '');
      let d: Duration;
      try {
        d = Duration.parse(text);
      } catch {
        throw this.error(`invalid interval '${text}' in ${fname}`, at, "write e.g. '5 MINUTES' or '1 HOUR'");
      }
      if (d.months !== 0) throw this.error(`${fname} intervals cannot use months or years ('${text}')`, at);
      const micros = BigInt(d.days) * 86_400_000_000n + d.micros;
      if (micros <= 0n) throw this.error(`${fname} intervals must be positive ('${text}')`, at);
      return micros;
    });
    const [hop, size] = fname === 'TUMBLE' ? [durations[0]!, durations[0]!] : [durations[0]!, durations[1]!];
    const fields = [
      ...inner.node.schema.fields,
      plainField('window_start', 'timestamp', false),
      plainField('window_end', 'timestamp', false),
    ];
    const n = inner.node.schema.fields.length;
    const pk = inner.node.schema.primaryKey;
    const node: PlanNode = {
      kind: 'window',
      input: inner.node,
      windowKind: fname === 'TUMBLE' ? 'tumble' : 'hop',
      time,
      hop,
      size,
      schema: { fields, primaryKey: pk.length > 0 ? (fname === 'TUMBLE' ? pk : [...pk, n]) : [] },
    };
    return {
      node,
      scope: { relations: [{ table: alias ?? tableName, alias: null, schema: node.schema, offset }] },
    };
  }
}

/**
 * `WHERE rn <= n` (or `rn < n`, `rn = 1`) over a ROW_NUMBER() column: the
 * row-number operator then keeps only the first n rows of each partition
 * visible, so rows further down cost no output ops. The filter stays (it
 * is then always true), so this changes cost, never results.
 */
function pushRowNumberLimits(node: PlanNode): PlanNode {
  switch (node.kind) {
    case 'scan':
    case 'one-row':
      return node;
    case 'filter': {
      let input = pushRowNumberLimits(node.input);
      for (const c of conjuncts(node.predicate)) {
        const bound = rowNumberBound(c);
        if (bound === null) continue;
        input = limitRowNumber(input, bound.column, bound.limit) ?? input;
      }
      return { ...node, input };
    }
    case 'join':
      return { ...node, left: pushRowNumberLimits(node.left), right: pushRowNumberLimits(node.right) };
    case 'union':
      return { ...node, inputs: node.inputs.map(pushRowNumberLimits) };
    default:
      return { ...node, input: pushRowNumberLimits(node.input) } as PlanNode;
  }
}

function rowNumberBound(c: Expr): { column: number; limit: number } | null {
  if (c.kind !== 'compare' || c.left.kind !== 'column' || c.right.kind !== 'literal') return null;
  const v = c.right.value;
  if (typeof v !== 'bigint') return null;
  const n = c.op === '<=' ? v : c.op === '<' ? v - 1n : c.op === '=' && v === 1n ? 1n : null;
  if (n === null || n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { column: c.left.index, limit: Number(n) };
}

/** `node` with the row-number operator that produces its column `column` limited to `limit` rows, or null. */
function limitRowNumber(node: PlanNode, column: number, limit: number): PlanNode | null {
  switch (node.kind) {
    case 'project': {
      const e = node.exprs[column];
      if (e?.kind !== 'column') return null;
      const input = limitRowNumber(node.input, e.index, limit);
      return input === null ? null : { ...node, input };
    }
    case 'filter': {
      const input = limitRowNumber(node.input, column, limit);
      return input === null ? null : { ...node, input };
    }
    case 'top-n':
      if (!node.rowNumber || column !== node.input.schema.fields.length) return null;
      return { ...node, limit: Math.min(node.limit, limit) };
    default:
      return null;
  }
}

function intervalMicros(d: Duration): bigint {
  return BigInt(d.days) * 86_400_000_000n + d.micros;
}

function fnName(w: Ast): string {
  const n = w.name;
  if (typeof n === 'string') return n.toUpperCase();
  if (isAst(n) && Array.isArray(n.name)) return String((n.name as Ast[])[0]?.value ?? '').toUpperCase();
  return '';
}

function windowSpec(w: Ast): { partitionby?: Ast[]; orderby?: Ast[] } {
  const over = isAst(w.over) ? w.over : {};
  const spec = isAst(over.as_window_specification) ? over.as_window_specification : {};
  const ws = isAst(spec.window_specification) ? spec.window_specification : {};
  const part = Array.isArray(ws.partitionby)
    ? ws.partitionby.filter(isAst).map((p) => (isAst(p.expr) ? p.expr : p))
    : [];
  const order = Array.isArray(ws.orderby) ? ws.orderby.filter(isAst) : [];
  return { partitionby: part, orderby: order };
}

function columnName(a: Ast): string {
  const col = a.column;
  return typeof col === 'string' ? col : isAst(col) && isAst(col.expr) ? String(col.expr.value) : '';
}

/**
 * `FROM a, b WHERE a.x = b.y`: WHERE equalities between plain columns of the
 * two sides of an inner join become its hash keys (else it would compare
 * every pair); deeper inner joins get the ones between their own sides.
 * The filter keeps the conditions too, so this changes cost, not results.
 */
function pushEqualitiesIntoJoins(node: PlanNode, conds: readonly Expr[]): PlanNode {
  if (node.kind !== 'join' || node.joinType !== 'inner') return node;
  const nL = node.left.schema.fields.length;
  const leftKeys = [...node.leftKeys];
  const rightKeys = [...node.rightKeys];
  const toLeft: Expr[] = [];
  const toRight: Expr[] = [];
  const has = (l: Expr, r: Expr) => leftKeys.some((k, i) => sameExpr(k, l) && sameExpr(rightKeys[i]!, r));
  for (const c of conds) {
    if (c.kind !== 'compare' || c.op !== '=' || c.left.kind !== 'column' || c.right.kind !== 'column')
      continue;
    const a = c.left.index;
    const b = c.right.index;
    if (a < nL && b >= nL) {
      const r = shiftColumns(c.right, -nL);
      if (!has(c.left, r)) {
        leftKeys.push(c.left);
        rightKeys.push(r);
      }
    } else if (b < nL && a >= nL) {
      const r = shiftColumns(c.left, -nL);
      if (!has(c.right, r)) {
        leftKeys.push(c.right);
        rightKeys.push(r);
      }
    } else if (a < nL && b < nL) toLeft.push(c);
    else if (a >= nL && b >= nL) toRight.push(shiftColumns(c, -nL));
  }
  return {
    ...node,
    left: pushEqualitiesIntoJoins(node.left, toLeft),
    right: pushEqualitiesIntoJoins(node.right, toRight),
    leftKeys,
    rightKeys,
  };
}

/** The SELECTs of the subqueries inside an expression AST (not those nested in them). */
function nestedSelects(v: unknown): Ast[] {
  if (Array.isArray(v)) return v.flatMap(nestedSelects);
  if (!isAst(v)) return [];
  const sel = subquerySelect(v);
  if (sel !== null) return [sel];
  return Object.entries(v).flatMap(([k, x]) => (k === 'loc' ? [] : nestedSelects(x)));
}

/** The ASTs ANDed together at the top of a condition. */
function conjunctAsts(a: Ast): Ast[] {
  if (a.type === 'binary_expr' && String(a.operator).toUpperCase() === 'AND') {
    const l = isAst(a.left) ? conjunctAsts(a.left) : [];
    const r = isAst(a.right) ? conjunctAsts(a.right) : [];
    return [...l, ...r];
  }
  return [a];
}

/** Whether every row of `node` comes from one whole-input aggregate: exactly one row, always. */
function alwaysOneRow(node: PlanNode): boolean {
  if (node.kind === 'project') return alwaysOneRow(node.input);
  return node.kind === 'aggregate' && node.global;
}

/** The argument of an aggregate call's text: `SUM(DISTINCT x) FILTER (…)` → `x`. */
function argText(call: string): string {
  const open = call.indexOf('(');
  let depth = 0;
  for (let i = open; i < call.length; i++) {
    if (call[i] === '(') depth++;
    else if (call[i] === ')' && --depth === 0)
      return call
        .slice(open + 1, i)
        .replace(/^\s*DISTINCT\s+/i, '')
        .trim();
  }
  return call.slice(open + 1).trim();
}

function containsAggregate(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(containsAggregate);
  if (!isAst(v)) return false;
  if (v.type === 'aggr_func') return true;
  if (v.type === 'select' || isAst(v.ast)) return false;
  return Object.entries(v).some(([k, x]) => k !== 'loc' && containsAggregate(x));
}

function conjuncts(e: Expr): Expr[] {
  return e.kind === 'and' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
}

function nullableSchema(s: Schema): Schema {
  return { ...s, fields: s.fields.map((f) => ({ ...f, nullable: true })) };
}

function plainField(name: string, type: SqlType, nullable: boolean): FieldDefinition {
  return { name, type: type === 'null' ? 'string' : type, nullable };
}

function fieldOf(name: string, e: Expr): FieldDefinition {
  return {
    name,
    type: e.type === 'null' ? 'string' : e.type,
    nullable: e.nullable,
    ...(e.type === 'decimal' && e.precision !== undefined ? { precision: e.precision } : {}),
    ...(e.type === 'decimal' && e.scale !== undefined ? { scale: e.scale } : {}),
  };
}

/** The input's key, when every key field is projected as a plain column; otherwise no key. */
function keptKey(input: Schema, exprs: readonly Expr[]): number[] {
  if (input.primaryKey.length === 0) return [];
  const out: number[] = [];
  for (const k of input.primaryKey) {
    const at = exprs.findIndex((e) => e.kind === 'column' && e.index === k);
    if (at < 0) return [];
    out.push(at);
  }
  return out;
}
