import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorError } from '@dozer/connectors';
import { afterAll, describe, expect, it } from 'vitest';
import { LineReader } from './line-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'dozer-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LineReader', () => {
  it('holds back a line until its newline is written, and counts bytes, not characters', async () => {
    const file = join(dir, 'a.ndjson');
    writeFileSync(file, 'één\r\n{"half":');
    const handle = await open(file, 'r');
    try {
      const r = new LineReader(handle, file);
      expect(await r.read()).toEqual([{ text: 'één', end: 7, number: 1 }]);
      expect(await r.read()).toEqual([]);
      expect([r.position, r.pendingBytes]).toEqual([7, 8]);
      appendFileSync(file, ' 1}\n\nlast');
      expect(await r.read()).toEqual([
        { text: '{"half": 1}', end: 19, number: 2 },
        { text: '', end: 20, number: 3 },
      ]);
      appendFileSync(file, '\n');
      expect(await r.read()).toEqual([{ text: 'last', end: 25, number: 4 }]);
      expect(await r.read()).toEqual([]);
    } finally {
      await handle.close();
    }
  });

  it('reads lines longer than its read size whole', async () => {
    const file = join(dir, 'long.ndjson');
    const long = 'x'.repeat(200_000);
    writeFileSync(file, `${long}\nshort\n`);
    const handle = await open(file, 'r');
    try {
      const r = new LineReader(handle, file);
      const lines = [...(await r.read()), ...(await r.read())];
      expect(lines.map((l) => [l.text.length, l.end, l.number])).toEqual([
        [200_000, 200_001, 1],
        [5, 200_007, 2],
      ]);
    } finally {
      await handle.close();
    }
  });

  it('rejects a line that is not UTF-8, naming it', async () => {
    const file = join(dir, 'latin1.ndjson');
    writeFileSync(file, Buffer.concat([Buffer.from('ok\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])]));
    const handle = await open(file, 'r');
    try {
      const e = await new LineReader(handle, file).read().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConnectorError);
      expect((e as Error).message).toBe(
        `${file}:2: the line is not UTF-8 text; the changelog must be UTF-8 JSON, one record a line`,
      );
    } finally {
      await handle.close();
    }
  });
});
