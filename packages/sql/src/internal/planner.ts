import type { FieldDefinition, Schema } from '@dozer/core';
import NodeSqlParser from 'node-sql-parser';
import { SqlError } from '../errors.js';
import { type Ast, ExprBinder, isAst, type Scope } from './binder.js';
import { type Expr, naturalName } from './expr.js';
import { tokenize } from './lexer.js';
import type { PlanNode, StatementPlan } from './logical-plan.js';
import { SourceText, type Span } from './source.js';
import { findName, layoutStatements, type StatementLayout } from './statement-layout.js';

const SUPPORTED = 'supported now: SELECT <columns> [FROM <one table>] [WHERE <condition>] INTO <output>';

/** The result of planning a SQL text: statements in dependency order, and the source tables read. */
export interface PlannedSql {
  readonly statements: readonly StatementPlan[];
  readonly inputs: readonly string[];
  readonly outputs: ReadonlyMap<string, Schema>;
}

interface Parsed {
  readonly index: number;
  readonly ast: Ast;
  readonly layout: StatementLayout;
  readonly into: string;
  readonly from: { readonly name: string; readonly alias: string | null; readonly at: number } | null;
}

/** Parses, checks and plans every statement of `sql` against the source schemas. */
export function planSql(sql: string, sources: ReadonlyMap<string, Schema>): PlannedSql {
  const src = new SourceText(sql);
  const tokens = tokenize(sql);
  const asts = parse(src);
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

  // Resolve each FROM to a source or a statement output.
  const dependsOn = new Map<Parsed, Parsed | null>();
  const sourceOf = new Map<Parsed, string>();
  for (const p of parsed) {
    if (p.from === null) continue;
    const producer = lookupName(producers, p.from.name);
    if (producer !== undefined) {
      dependsOn.set(p, producers.get(producer)!);
      continue;
    }
    const source = lookupName(sources, p.from.name);
    if (source === undefined) {
      const known = [...sources.keys()]
        .map((k) => `${k} (source)`)
        .concat([...producers.keys()].map((k) => `${k} (output)`));
      throw src.error(
        `unknown table "${p.from.name}"`,
        p.from.at,
        `known tables: ${known.join(', ') || 'none'}`,
      );
    }
    sourceOf.set(p, source);
  }

  const order = topologicalOrder(src, parsed, dependsOn);
  const outputs = new Map<string, Schema>();
  const statements: StatementPlan[] = [];
  const inputs: string[] = [];
  for (const p of order) {
    let scope: Scope | null = null;
    let scan: PlanNode;
    if (p.from === null) {
      scan = { kind: 'one-row', schema: { fields: [], primaryKey: [] } };
    } else {
      const upstream = dependsOn.get(p);
      const table = upstream ? upstream.into : sourceOf.get(p)!;
      const schema = upstream ? outputs.get(upstream.into)! : sources.get(table)!;
      if (!upstream && !inputs.includes(table)) inputs.push(table);
      scope = { table, alias: p.from.alias, schema };
      scan = { kind: 'scan', table, schema };
    }
    const root = planSelect(src, p, scope, scan);
    outputs.set(p.into, root.schema);
    statements.push({ index: p.index, into: p.into, input: scan.kind === 'scan' ? scan.table : null, root });
  }
  // Report outputs in the order the statements were written.
  const ordered = new Map(parsed.map((p) => [p.into, outputs.get(p.into)!]));
  return { statements, inputs, outputs: ordered };
}

function parse(src: SourceText): Ast[] {
  const parser = new NodeSqlParser.Parser();
  let result: unknown;
  try {
    result = parser.astify(src.text, { database: 'postgresql', parseOptions: { includeLocations: true } });
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

/** Rejects what this version cannot compile, naming the construct; extracts INTO and FROM. */
function checkStatement(src: SourceText, ast: Ast, index: number, layout: StatementLayout): Parsed {
  const at = (kw: string): number => findName(layout.tokens, layout, kw)?.start ?? layout.start;
  const unsupported = (what: string, kw: string): never => {
    throw src.error(`${what} is not supported yet`, at(kw), SUPPORTED);
  };
  if (ast.type !== 'select') {
    throw src.error(
      `only SELECT … INTO statements are supported, got ${String(ast.type).toUpperCase()}`,
      layout.start,
      SUPPORTED,
    );
  }
  if (ast.with) unsupported('WITH (common table expressions)', 'WITH');
  if (ast._next || ast.set_op) {
    const op = String(ast.set_op ?? 'union').toUpperCase();
    unsupported(op, op.split(' ')[0]!);
  }
  const distinct = isAst(ast.distinct) ? ast.distinct.type : ast.distinct;
  if (distinct) unsupported('SELECT DISTINCT', 'DISTINCT');
  if (ast.groupby) unsupported('GROUP BY', 'GROUP');
  if (ast.having) unsupported('HAVING', 'HAVING');
  if (ast.window) unsupported('WINDOW', 'WINDOW');
  if (Array.isArray(ast.orderby) && ast.orderby.length > 0) unsupported('ORDER BY', 'ORDER');
  const limit = isAst(ast.limit) ? ast.limit.value : null;
  if (Array.isArray(limit) && limit.length > 0) unsupported('LIMIT', 'LIMIT');
  const fromList = Array.isArray(ast.from) ? ast.from.filter(isAst) : [];
  if (fromList.length > 1) {
    const join = fromList[1]!.join;
    unsupported(
      typeof join === 'string' ? join : 'a FROM list of several tables (a join)',
      typeof join === 'string' ? 'JOIN' : 'FROM',
    );
  }
  let from: Parsed['from'] = null;
  const item = fromList[0];
  if (item !== undefined) {
    const expr = isAst(item.expr) ? item.expr : null;
    if (expr !== null) {
      if (expr.type === 'function') {
        const fname = Array.isArray((expr.name as Ast | undefined)?.name)
          ? String(((expr.name as Ast).name as Ast[])[0]?.value ?? '')
          : 'table function';
        throw src.error(
          `table function ${fname.toUpperCase()}(…) in FROM is not supported yet`,
          layout.from?.start ?? layout.start,
          SUPPORTED,
        );
      }
      unsupported('a subquery in FROM', 'FROM');
    }
    const table = typeof item.table === 'string' ? item.table : '';
    const name = typeof item.db === 'string' && item.db !== '' ? `${item.db}.${table}` : table;
    const fromSpan = layout.from ?? layout;
    const at = findName(layout.tokens, fromSpan, table)?.start ?? fromSpan.start;
    from = {
      name,
      alias: typeof item.as === 'string' ? item.as : null,
      at:
        typeof item.db === 'string' && item.db !== ''
          ? (findName(layout.tokens, fromSpan, item.db)?.start ?? at)
          : at,
    };
  }
  const intoNode = isAst(ast.into) ? ast.into : null;
  const into =
    typeof intoNode?.expr === 'string'
      ? intoNode.expr
      : isAst(intoNode?.expr)
        ? String(intoNode.expr.value ?? '')
        : '';
  if (into === '') {
    throw src.error(
      `statement ${index + 1} has no INTO clause`,
      layout.start,
      'every statement names its output table, e.g. SELECT * FROM trips WHERE price > 10 INTO expensive_trips',
    );
  }
  return { index, ast, layout, into, from };
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
  dependsOn: ReadonlyMap<Parsed, Parsed | null>,
): Parsed[] {
  const order: Parsed[] = [];
  const state = new Map<Parsed, 'visiting' | 'done'>();
  const visit = (p: Parsed, path: Parsed[]): void => {
    const s = state.get(p);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(p)), p].map((q) => q.into);
      throw src.error(
        `statements form a cycle: ${cycle.join(' → ')}`,
        p.from?.at ?? p.layout.start,
        'a statement may read only sources and the outputs of statements that do not read it back',
      );
    }
    state.set(p, 'visiting');
    const dep = dependsOn.get(p);
    if (dep) visit(dep, [...path, p]);
    state.set(p, 'done');
    order.push(p);
  };
  for (const p of parsed) visit(p, []);
  return order;
}

function planSelect(src: SourceText, p: Parsed, scope: Scope | null, scan: PlanNode): PlanNode {
  const binder = new ExprBinder(src, p.layout.tokens, scope);
  let node: PlanNode = scan;
  const whereAst = isAst(p.ast.where) ? p.ast.where : null;
  if (whereAst !== null) {
    const predicate = binder.bindCondition(whereAst, p.layout.where ?? p.layout, 'WHERE');
    node = { kind: 'filter', input: node, predicate, schema: node.schema };
  }
  const columns = Array.isArray(p.ast.columns) ? p.ast.columns.filter(isAst) : [];
  const itemSpans = p.layout.selectItems.length === columns.length ? p.layout.selectItems : null;
  const exprs: Expr[] = [];
  const names: string[] = [];
  const nameAt: number[] = [];
  columns.forEach((col, i) => {
    const span: Span = itemSpans?.[i] ?? p.layout;
    const expr = isAst(col.expr) ? col.expr : null;
    if (expr === null) throw src.error('malformed select list item', span.start);
    if (expr.type === 'column_ref' && expr.column === '*') {
      const qualifier = typeof expr.table === 'string' ? expr.table : null;
      if (scope === null) throw src.error('SELECT * needs a FROM clause', span.start);
      if (qualifier !== null && qualifier.toLowerCase() !== (scope.alias ?? scope.table).toLowerCase()) {
        throw src.error(
          `unknown table "${qualifier}" in "${qualifier}.*"`,
          span.start,
          `the FROM table is ${scope.alias ? `${scope.table} AS ${scope.alias}` : scope.table}`,
        );
      }
      scope.schema.fields.forEach((f, index) => {
        exprs.push({
          kind: 'column',
          type: f.type,
          nullable: f.nullable,
          at: span.start,
          where: `in "${src.slice(span)}" ${src.where(span.start)}`,
          ...(f.precision === undefined ? {} : { precision: f.precision }),
          ...(f.scale === undefined ? {} : { scale: f.scale }),
          index,
          name: f.name,
        });
        names.push(f.name);
        nameAt.push(span.start);
      });
      return;
    }
    const e = binder.bind(expr, span);
    exprs.push(e);
    const alias = typeof col.as === 'string' ? col.as : isAst(col.as) ? String(col.as.value ?? '') : null;
    names.push(alias ?? naturalName(e) ?? `expr_${i + 1}`);
    nameAt.push(span.start);
  });
  names.forEach((name, i) => {
    const first = names.indexOf(name);
    if (first !== i) {
      throw src.error(
        `duplicate output column "${name}" in the select list of ${p.into}`,
        nameAt[i]!,
        'give one of them another name with AS',
      );
    }
  });
  const fields: FieldDefinition[] = exprs.map((e, i) => ({
    name: names[i]!,
    type: e.type === 'null' ? 'string' : e.type,
    nullable: e.nullable,
    ...(e.type === 'decimal' && e.precision !== undefined ? { precision: e.precision } : {}),
    ...(e.type === 'decimal' && e.scale !== undefined ? { scale: e.scale } : {}),
  }));
  return { kind: 'project', input: node, exprs, schema: { fields, primaryKey: keptKey(scan.schema, exprs) } };
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
