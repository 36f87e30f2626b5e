import type { Schema } from '@dozer/core';
import type { Expr } from './expr.js';
import { formatExpr, quoteIdent } from './format-expr.js';

/**
 * A node of the logical plan: what a statement computes, with names
 * resolved and every expression typed. Each node knows its output schema.
 * Later operators (aggregate, join, window, union, top-N) are more kinds
 * of node here, lowered to incremental operators in `operators.ts`.
 */
export type PlanNode =
  | { readonly kind: 'scan'; readonly table: string; readonly schema: Schema }
  /** A statement without FROM: a single row of no columns. */
  | { readonly kind: 'one-row'; readonly schema: Schema }
  | { readonly kind: 'filter'; readonly input: PlanNode; readonly predicate: Expr; readonly schema: Schema }
  | {
      readonly kind: 'project';
      readonly input: PlanNode;
      readonly exprs: readonly Expr[];
      readonly schema: Schema;
    };

/** One `SELECT … INTO name` statement, planned. */
export interface StatementPlan {
  /** Position of the statement in the SQL text (0-based). */
  readonly index: number;
  /** The output table. */
  readonly into: string;
  /** The table read (a source or another statement's output), or null without FROM. */
  readonly input: string | null;
  readonly root: PlanNode;
}

/** The plan as indented lines, one operator per line, the root first. */
export function formatPlan(node: PlanNode, indent = ''): string[] {
  const line = indent + describeNode(node);
  const input = node.kind === 'filter' || node.kind === 'project' ? node.input : null;
  return input === null ? [line] : [line, ...formatPlan(input, `${indent}  `)];
}

function describeNode(node: PlanNode): string {
  switch (node.kind) {
    case 'scan':
      return `Scan ${quoteIdent(node.table)}`;
    case 'one-row':
      return 'OneRow';
    case 'filter':
      return `Filter ${formatExpr(node.predicate)}`;
    case 'project':
      return `Project ${node.exprs
        .map((e, i) => {
          const name = node.schema.fields[i]!.name;
          const text = formatExpr(e);
          return text === quoteIdent(name) ? text : `${text} AS ${quoteIdent(name)}`;
        })
        .join(', ')}`;
  }
}

/** `name type [NOT NULL], …` of a schema, plus its key. */
export function formatSchema(schema: Schema): string {
  const cols = schema.fields
    .map((f) => {
      const t =
        f.type === 'decimal' && f.precision !== undefined
          ? `decimal(${f.precision}, ${f.scale ?? 0})`
          : f.type;
      return `${quoteIdent(f.name)} ${t}${f.nullable ? '' : ' NOT NULL'}`;
    })
    .join(', ');
  const key =
    schema.primaryKey.length > 0
      ? ` KEY (${schema.primaryKey.map((i) => quoteIdent(schema.fields[i]!.name)).join(', ')})`
      : '';
  return `(${cols})${key}`;
}
