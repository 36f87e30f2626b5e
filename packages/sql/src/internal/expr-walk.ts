import type { Expr } from './expr.js';

/**
 * Rebuilds `e` bottom-up, giving `f` the chance to replace each node first:
 * when `f` returns an expression it is used as is (its children are not
 * visited), when it returns undefined the node's children are rewritten.
 */
export function rewriteExpr(e: Expr, f: (e: Expr) => Expr | undefined): Expr {
  const r = f(e);
  if (r !== undefined) return r;
  const w = (x: Expr): Expr => rewriteExpr(x, f);
  switch (e.kind) {
    case 'column':
    case 'literal':
      return e;
    case 'arith':
    case 'compare':
    case 'and':
    case 'or':
      return { ...e, left: w(e.left), right: w(e.right) };
    case 'neg':
    case 'not':
    case 'is-null':
    case 'is-bool':
    case 'cast':
      return { ...e, operand: w(e.operand) };
    case 'in':
      return { ...e, operand: w(e.operand), list: e.list.map(w) };
    case 'like':
      return { ...e, operand: w(e.operand), pattern: w(e.pattern), escape: e.escape && w(e.escape) };
    case 'case':
      return {
        ...e,
        operand: e.operand && w(e.operand),
        whens: e.whens.map((x) => ({ when: w(x.when), result: w(x.result) })),
        otherwise: e.otherwise && w(e.otherwise),
      };
    case 'call':
      return { ...e, args: e.args.map(w) };
  }
}

/** Column positions `e` reads. */
export function columnsOf(e: Expr, into: Set<number> = new Set()): Set<number> {
  rewriteExpr(e, (x) => {
    if (x.kind === 'column') into.add(x.index);
    return undefined;
  });
  return into;
}

/** `e` with every column position moved by `delta`. */
export function shiftColumns(e: Expr, delta: number): Expr {
  if (delta === 0) return e;
  return rewriteExpr(e, (x) => (x.kind === 'column' ? { ...x, index: x.index + delta } : undefined));
}

/** Whether two bound expressions compute the same thing (same structure, ignoring positions in the text). */
export function sameExpr(a: Expr, b: Expr): boolean {
  return exprKey(a) === exprKey(b);
}

/** A structural fingerprint of an expression. */
export function exprKey(e: Expr): string {
  return JSON.stringify(e, function (this: { kind?: unknown }, k, v) {
    if (k === 'at' || k === 'where' || (k === 'name' && this.kind === 'column')) return undefined;
    return typeof v === 'bigint' ? `${v}n` : v;
  });
}
