/**
 * One CSV record: its fields (an unquoted empty field is `null`, a quoted
 * one `""` is the empty string), the line it starts on (1-based), or an
 * `error` when the record cannot be parsed (text after a closing quote, a
 * quote never closed), with its raw text.
 */
export interface CsvRecord {
  readonly fields: (string | null)[];
  readonly line: number;
  /** The index in the parsed text just after the record (and its line break). */
  readonly end: number;
  /** The line number after the record. */
  readonly nextLine: number;
  readonly error?: string;
  readonly raw?: string;
}

/**
 * An incremental RFC 4180 CSV parser: quoted fields with doubled quotes,
 * delimiters and line breaks inside quotes, LF or CRLF line ends, blank
 * lines skipped. It is fed text that the caller cuts anywhere; a record cut
 * in two is left unconsumed and parsed again with more text.
 *
 * Lines without a quote character take a fast path (`String.split`), which
 * is what keeps big files cheap: the quote is searched once per stretch of
 * text, not once per character.
 */
export class CsvParser {
  /** The line number of the next record (1-based). */
  line: number;
  private readonly delim: string;
  private readonly quote: string;
  private readonly quoteCode: number;
  private readonly delimCode: number;

  constructor(options: { delimiter: string; quote: string; line?: number }) {
    this.delim = options.delimiter;
    this.quote = options.quote;
    this.quoteCode = options.quote.charCodeAt(0);
    this.delimCode = options.delimiter.charCodeAt(0);
    this.line = options.line ?? 1;
  }

  /**
   * Parses records of `text` from `pos`, at most `limit` of them, into
   * `out`. Returns the index after the last record parsed. Unless `final`,
   * a record that may continue past the end of `text` is not parsed.
   */
  parse(text: string, pos: number, final: boolean, limit: number, out: CsvRecord[]): number {
    const n = text.length;
    let quoteAt = -1;
    let produced = 0;
    while (produced < limit && pos < n) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) {
        if (!final) break;
        nl = n;
      }
      if (quoteAt < pos) {
        quoteAt = text.indexOf(this.quote, pos);
        if (quoteAt < 0) quoteAt = n + 1;
      }
      if (quoteAt > nl) {
        let end = nl;
        if (end > pos && text.charCodeAt(end - 1) === 13) end--;
        if (end > pos) {
          const fields: (string | null)[] = text.slice(pos, end).split(this.delim);
          for (let i = 0; i < fields.length; i++) if (fields[i] === '') fields[i] = null;
          out.push({ fields, line: this.line, end: Math.min(nl + 1, n), nextLine: this.line + 1 });
          produced++;
        }
        this.line++;
        pos = nl + 1;
        continue;
      }
      const next = this.parseSlow(text, pos, final, out);
      if (next < 0) break;
      produced++;
      pos = next;
    }
    return Math.min(pos, n);
  }

  /** A record containing the quote character; -1 when it may continue past `text`. */
  private parseSlow(text: string, start: number, final: boolean, out: CsvRecord[]): number {
    const n = text.length;
    const q = this.quoteCode;
    const d = this.delimCode;
    const fields: (string | null)[] = [];
    let lines = 0;
    let i = start;
    for (;;) {
      if (i < n && text.charCodeAt(i) === q) {
        let value = '';
        let seg = i + 1;
        let j: number;
        for (;;) {
          j = text.indexOf(this.quote, seg);
          if (j < 0) {
            if (!final) return -1;
            return this.bad(text, start, n, out, 'a quoted field is never closed (missing closing quote)');
          }
          if (j + 1 >= n && !final) return -1;
          if (text.charCodeAt(j + 1) === q) {
            value += text.slice(seg, j + 1);
            seg = j + 2;
            continue;
          }
          value += text.slice(seg, j);
          break;
        }
        for (let k = value.indexOf('\n'); k >= 0; k = value.indexOf('\n', k + 1)) lines++;
        fields.push(value);
        i = j + 1;
        const c = i < n ? text.charCodeAt(i) : -1;
        if (c === d) {
          i++;
          continue;
        }
        if (c === -1) return this.emit(fields, lines, n, out);
        if (c === 10) return this.emit(fields, lines, i + 1, out);
        if (c === 13) {
          if (i + 1 >= n) return final ? this.emit(fields, lines, n, out) : -1;
          if (text.charCodeAt(i + 1) === 10) return this.emit(fields, lines, i + 2, out);
        }
        const nl = text.indexOf('\n', i);
        if (nl < 0 && !final) return -1;
        return this.bad(
          text,
          start,
          nl < 0 ? n : nl + 1,
          out,
          `unexpected text after the closing quote of field ${fields.length}; a quote inside a quoted field must be doubled`,
          lines,
        );
      }
      // An unquoted field runs to the next delimiter or line end; a quote inside it is taken literally.
      let nl = text.indexOf('\n', i);
      if (nl < 0) {
        if (!final) return -1;
        nl = n;
      }
      let dAt = text.indexOf(this.delim, i);
      if (dAt < 0 || dAt > nl) dAt = -1;
      if (dAt >= 0) {
        fields.push(dAt === i ? null : text.slice(i, dAt));
        i = dAt + 1;
        continue;
      }
      let end = nl;
      if (end > i && text.charCodeAt(end - 1) === 13) end--;
      fields.push(end === i ? null : text.slice(i, end));
      return this.emit(fields, lines, nl + 1, out);
    }
  }

  private emit(fields: (string | null)[], lines: number, next: number, out: CsvRecord[]): number {
    const nextLine = this.line + lines + 1;
    out.push({ fields, line: this.line, end: next, nextLine });
    this.line = nextLine;
    return next;
  }

  private bad(
    text: string,
    start: number,
    end: number,
    out: CsvRecord[],
    error: string,
    lines?: number,
  ): number {
    const raw = text.slice(start, end);
    let count = lines ?? 0;
    if (lines === undefined) for (let k = raw.indexOf('\n'); k >= 0; k = raw.indexOf('\n', k + 1)) count++;
    const nextLine = this.line + (lines === undefined ? Math.max(1, count) : count + 1);
    out.push({ fields: [], line: this.line, end, nextLine, error, raw: raw.replace(/\r?\n$/, '') });
    this.line = nextLine;
    return end;
  }
}
