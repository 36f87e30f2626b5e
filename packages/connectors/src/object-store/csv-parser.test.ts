import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvParser, type CsvRecord } from './csv-parser.js';

function parseAll(text: string, delimiter = ',', quote = '"'): CsvRecord[] {
  const out: CsvRecord[] = [];
  new CsvParser({ delimiter, quote }).parse(text, 0, true, Number.POSITIVE_INFINITY, out);
  return out;
}

/** Parses `text` fed in pieces cut at `cuts`, as a stream reader would. */
function parseInPieces(text: string, cuts: number[]): CsvRecord[] {
  const parser = new CsvParser({ delimiter: ',', quote: '"' });
  const out: CsvRecord[] = [];
  let buf = '';
  let last = 0;
  for (const cut of [...cuts.sort((a, b) => a - b), text.length]) {
    buf += text.slice(last, cut);
    last = cut;
    const final = cut === text.length;
    const recs: CsvRecord[] = [];
    const pos = parser.parse(buf, 0, final, Number.POSITIVE_INFINITY, recs);
    out.push(...recs);
    buf = buf.slice(pos);
  }
  return out;
}

const fieldsOf = (recs: CsvRecord[]) => recs.map((r) => r.fields);

describe('CsvParser', () => {
  it('reads plain, quoted and empty fields', () => {
    expect(fieldsOf(parseAll('a,b,c\n1,,"x"\n2,"",\n'))).toEqual([
      ['a', 'b', 'c'],
      ['1', null, 'x'],
      ['2', '', null],
    ]);
  });

  it('keeps delimiters, doubled quotes and line breaks inside quotes', () => {
    const recs = parseAll('id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,end\n');
    expect(fieldsOf(recs)).toEqual([
      ['id', 'note'],
      ['1', 'a, b'],
      ['2', 'say "hi"'],
      ['3', 'two\nlines'],
      ['4', 'end'],
    ]);
    // Line numbers count the line break inside the quoted field.
    expect(recs.map((r) => r.line)).toEqual([1, 2, 3, 4, 6]);
  });

  it('handles CRLF line ends, also after quoted fields and inside them', () => {
    expect(fieldsOf(parseAll('a,b\r\n"x","y"\r\n"multi\r\nline",z\r\n'))).toEqual([
      ['a', 'b'],
      ['x', 'y'],
      ['multi\r\nline', 'z'],
    ]);
  });

  it('reads a last line without a line break and skips blank lines', () => {
    const recs = parseAll('a\n\n1\n\n2');
    expect(fieldsOf(recs)).toEqual([['a'], ['1'], ['2']]);
    expect(recs.map((r) => r.line)).toEqual([1, 3, 5]);
  });

  it('uses the configured delimiter and quote', () => {
    expect(fieldsOf(parseAll("a;'b;c'\n1;'it''s'\n", ';', "'"))).toEqual([
      ['a', 'b;c'],
      ['1', "it's"],
    ]);
  });

  it('takes a quote inside an unquoted field literally', () => {
    expect(fieldsOf(parseAll('5"2,x\n'))).toEqual([['5"2', 'x']]);
  });

  it('reports text after a closing quote as an error with its line, and goes on', () => {
    const recs = parseAll('a,b\n"x"y,2\n3,4\n');
    expect(recs[1]).toMatchObject({ line: 2, raw: '"x"y,2' });
    expect(recs[1]!.error).toContain('after the closing quote');
    expect(recs[2]).toMatchObject({ fields: ['3', '4'], line: 3 });
  });

  it('reports a quote never closed', () => {
    const recs = parseAll('a\n"open\nmore\n');
    expect(recs[1]!.error).toContain('never closed');
    expect(recs[1]!.line).toBe(2);
  });

  it('gives the same records however the text is cut into pieces', () => {
    const field = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', ' ', '"', ',', '\n', '\r', 'é', '😀') }),
      fc.constantFrom('', '1', 'x'),
    );
    const csvField = field.map((f) => (/[",\r\n]/.test(f) || f === '' ? `"${f.replaceAll('"', '""')}"` : f));
    const record = fc.array(csvField, { minLength: 1, maxLength: 4 }).map((fs) => fs.join(','));
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.nat(), { maxLength: 6 }),
        (records, eol, rawCuts) => {
          const text = records.join(eol) + eol;
          const cuts = rawCuts.map((c) => c % (text.length + 1));
          const whole = parseAll(text);
          const pieces = parseInPieces(text, cuts);
          expect(pieces.map((r) => [r.fields, r.line])).toEqual(whole.map((r) => [r.fields, r.line]));
          expect(whole.every((r) => r.error === undefined)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
