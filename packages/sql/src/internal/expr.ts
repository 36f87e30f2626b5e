import type { FieldType, Row, Value } from '@dozer/core';

/**
 * The type of an expression: a core field type, or `null` for an untyped
 * NULL literal (which takes the type its context asks for).
 */
export type SqlType = FieldType | 'null';

export type ArithOp = '+' | '-' | '*' | '/' | '%';
export type CompareOp = '=' | '<>' | '<' | '<=' | '>' | '>=';

interface Base {
  readonly type: SqlType;
  readonly nullable: boolean;
  /** Offset of the expression in the SQL text. */
  readonly at: number;
  /** `in "<fragment>" at line L, column C`, appended to runtime error messages. */
  readonly where: string;
  /** Decimal precision/scale when known (column of a declared decimal, CAST to DECIMAL(p,s)). */
  readonly precision?: number;
  readonly scale?: number;
}

/**
 * A bound expression of the logical plan: names resolved to positions,
 * every node typed. Operands of arithmetic and comparisons already have the
 * type the operation works in (the binder inserts implicit casts), so the
 * compiler only picks an implementation per node.
 */
export type Expr =
  | (Base & { readonly kind: 'column'; readonly index: number; readonly name: string })
  | (Base & { readonly kind: 'literal'; readonly value: Value; readonly fromString: boolean })
  | (Base & { readonly kind: 'arith'; readonly op: ArithOp; readonly left: Expr; readonly right: Expr })
  | (Base & { readonly kind: 'neg'; readonly operand: Expr })
  | (Base & {
      readonly kind: 'compare';
      readonly op: CompareOp;
      readonly left: Expr;
      readonly right: Expr;
      /** The type both sides are compared in. */
      readonly compareType: FieldType;
    })
  | (Base & { readonly kind: 'and' | 'or'; readonly left: Expr; readonly right: Expr })
  | (Base & { readonly kind: 'not'; readonly operand: Expr })
  | (Base & { readonly kind: 'is-null'; readonly operand: Expr; readonly negated: boolean })
  | (Base & {
      readonly kind: 'is-bool';
      readonly operand: Expr;
      readonly value: boolean;
      readonly negated: boolean;
    })
  | (Base & {
      readonly kind: 'in';
      readonly operand: Expr;
      readonly list: readonly Expr[];
      readonly negated: boolean;
      readonly compareType: FieldType;
    })
  | (Base & {
      readonly kind: 'like';
      readonly operand: Expr;
      readonly pattern: Expr;
      readonly escape: Expr | null;
      readonly caseInsensitive: boolean;
      readonly negated: boolean;
    })
  | (Base & {
      readonly kind: 'case';
      /** `CASE x WHEN …`: the operand, compared with each WHEN in `compareType`. */
      readonly operand: Expr | null;
      readonly compareType: FieldType | null;
      readonly whens: readonly { readonly when: Expr; readonly result: Expr }[];
      readonly otherwise: Expr | null;
    })
  | (Base & { readonly kind: 'cast'; readonly operand: Expr; readonly implicit: boolean })
  | (Base & {
      readonly kind: 'call';
      readonly name: string;
      readonly args: readonly Expr[];
    });

/** The output name Postgres would give an unaliased expression, or null when it would say `?column?`. */
export function naturalName(e: Expr): string | null {
  switch (e.kind) {
    case 'column':
      return e.name;
    case 'call':
      return e.name.toLowerCase();
    case 'cast':
      return naturalName(e.operand);
    case 'case':
      return 'case';
    default:
      return null;
  }
}

/** A compiled expression: evaluates to the expression's value for one row. */
export type Evaluator = (row: Row) => Value;
