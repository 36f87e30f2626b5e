import { SqlError, type SqlPosition } from '../errors.js';

/** A half-open range of offsets into the SQL text. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

const MAX_QUOTED_LINE = 120;

/** The SQL text being compiled, with what error messages need: positions and quoted lines. */
export class SourceText {
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  position(offset: number): SqlPosition {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { offset: o, line: lo + 1, column: o - this.lineStarts[lo]! + 1 };
  }

  slice(span: Span): string {
    return this.text.slice(span.start, span.end);
  }

  /** The line holding `pos`, shortened around the column when it is long. */
  quoteLine(pos: SqlPosition): string {
    const start = this.lineStarts[pos.line - 1] ?? 0;
    const next = this.lineStarts[pos.line];
    const line = this.text.slice(start, next === undefined ? this.text.length : next - 1).replace(/\s+$/, '');
    if (line.length <= MAX_QUOTED_LINE) return line.trim();
    const from = Math.max(0, pos.column - 1 - MAX_QUOTED_LINE / 2);
    const to = Math.min(line.length, from + MAX_QUOTED_LINE);
    return `${from > 0 ? '…' : ''}${line.slice(from, to)}${to < line.length ? '…' : ''}`;
  }

  /**
   * A SqlError reading `<what> at line L, column C: <the line> (<hint>)`, so
   * that the user sees both the offending fragment and where it is.
   */
  error(what: string, offset: number, hint?: string, cause?: unknown): SqlError {
    const pos = this.position(offset);
    const message = `${what} at line ${pos.line}, column ${pos.column}: ${this.quoteLine(pos)}${hint ? ` (${hint})` : ''}`;
    return new SqlError(message, pos, cause === undefined ? {} : { cause });
  }

  /** `at line L, column C` for runtime errors that point back at an expression. */
  where(offset: number): string {
    const pos = this.position(offset);
    return `at line ${pos.line}, column ${pos.column}`;
  }
}
