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
    }
  /** GROUP BY (or DISTINCT, or a whole-input aggregate): output = group keys, then aggregates. */
  | {
      readonly kind: 'aggregate';
      readonly input: PlanNode;
      readonly keys: readonly Expr[];
      readonly aggs: readonly AggregateCall[];
      /** No GROUP BY: exactly one output row, even over an empty input. */
      readonly global: boolean;
      readonly schema: Schema;
    }
  /** Output = left columns, then right columns. */
  | {
      readonly kind: 'join';
      readonly joinType: JoinType;
      readonly left: PlanNode;
      readonly right: PlanNode;
      /** Equality keys, over the left row and the right row respectively. */
      readonly leftKeys: readonly Expr[];
      readonly rightKeys: readonly Expr[];
      /** The rest of the ON condition, over the joined row. */
      readonly residual: Expr | null;
      readonly schema: Schema;
    }
  | { readonly kind: 'union'; readonly inputs: readonly PlanNode[]; readonly schema: Schema }
  /**
   * Top-N: per partition, the first `limit` rows in `order`; with
   * `rowNumber`, a ROW_NUMBER column is appended (output = input, rn).
   */
  | {
      readonly kind: 'top-n';
      readonly input: PlanNode;
      readonly partition: readonly Expr[];
      readonly order: readonly SortKey[];
      readonly limit: number;
      readonly rowNumber: boolean;
      readonly schema: Schema;
    }
  /** TUMBLE / HOP: each row joined with the windows its time falls in (output = input, window_start, window_end). */
  | {
      readonly kind: 'window';
      readonly input: PlanNode;
      readonly windowKind: 'tumble' | 'hop';
      readonly time: Expr;
      /** Micros. For TUMBLE, hop = size. */
      readonly hop: bigint;
      readonly size: bigint;
      readonly schema: Schema;
    }
  /**
   * TTL: rows whose time is older than the newest time seen minus `ttl`
   * are retracted (and late ones dropped), so downstream state stays bounded.
   */
  | {
      readonly kind: 'ttl';
      readonly input: PlanNode;
      readonly time: Expr;
      /** Micros. */
      readonly ttl: bigint;
      readonly schema: Schema;
    };

export type JoinType = 'inner' | 'left' | 'right' | 'full';

/** One ORDER BY item. */
export interface SortKey {
  readonly expr: Expr;
  readonly desc: boolean;
  readonly nullsFirst: boolean;
}

export type AggregateFunction = 'count' | 'count-star' | 'count-distinct' | 'sum' | 'avg' | 'min' | 'max';

/** One aggregate of a GROUP BY: its function, argument (over the input row) and result type. */
export interface AggregateCall {
  readonly fn: AggregateFunction;
  readonly arg: Expr | null;
  readonly text: string;
}

/** One `SELECT … INTO name` statement, planned. */
export interface StatementPlan {
  /** Position of the statement in the SQL text (0-based). */
  readonly index: number;
  /** The output table. */
  readonly into: string;
  /** The tables read (sources or other statements' outputs); empty without FROM. */
  readonly inputs: readonly string[];
  readonly root: PlanNode;
}

/** The plan as indented lines, one operator per line, the root first. */
export function formatPlan(node: PlanNode, indent = ''): string[] {
  const line = indent + describeNode(node);
  return [line, ...planInputs(node).flatMap((i) => formatPlan(i, `${indent}  `))];
}

/** The inputs of a node, left to right. */
export function planInputs(node: PlanNode): readonly PlanNode[] {
  switch (node.kind) {
    case 'scan':
    case 'one-row':
      return [];
    case 'join':
      return [node.left, node.right];
    case 'union':
      return node.inputs;
    default:
      return [node.input];
  }
}

/** One line describing what a node does (without its inputs). */
export function describeNode(node: PlanNode): string {
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
    case 'aggregate': {
      const keys = node.keys.map(formatExpr).join(', ');
      const aggs = node.aggs.map((a) => a.text).join(', ');
      return `Aggregate ${node.global ? '(whole input)' : `BY ${keys}`}${aggs ? `: ${aggs}` : ''}`;
    }
    case 'join': {
      const on = node.leftKeys.map((l, i) => `${formatExpr(l)} = ${formatExpr(node.rightKeys[i]!)}`);
      if (node.residual) on.push(formatExpr(node.residual));
      return `HashJoin ${node.joinType.toUpperCase()}${on.length ? ` ON ${on.join(' AND ')}` : ' (cross)'}`;
    }
    case 'union':
      return 'UnionAll';
    case 'top-n': {
      const part = node.partition.length ? ` PARTITION BY ${node.partition.map(formatExpr).join(', ')}` : '';
      const order = node.order
        .map(
          (k) =>
            `${formatExpr(k.expr)}${k.desc ? ' DESC' : ''}${k.nullsFirst !== k.desc ? (k.nullsFirst ? ' NULLS FIRST' : ' NULLS LAST') : ''}`,
        )
        .join(', ');
      const limit = Number.isFinite(node.limit) ? ` LIMIT ${node.limit}` : '';
      return `${node.rowNumber ? 'RowNumber' : 'TopN'}${part} ORDER BY ${order}${limit}`;
    }
    case 'ttl':
      return `Ttl ${formatExpr(node.time)} keeps ${node.ttl}us behind the newest`;
    case 'window':
      return node.windowKind === 'tumble'
        ? `Tumble ${formatExpr(node.time)} size ${node.size}us`
        : `Hop ${formatExpr(node.time)} hop ${node.hop}us size ${node.size}us`;
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
