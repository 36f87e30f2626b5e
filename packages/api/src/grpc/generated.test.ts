import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

// The build regenerates these types, but a fresh clone typechecks before any
// build: the committed copy must be what buf and ts-proto make of the protos.
it('the committed TypeScript of the fixed protos is what buf generates from them', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-buf-'));
  try {
    execFileSync(path.join(pkg, 'node_modules/.bin/buf'), ['generate', '--output', out], { cwd: pkg });
    const fresh = path.join(out, 'src/grpc/generated');
    const committed = path.join(pkg, 'src/grpc/generated');
    expect(files(fresh)).toEqual(files(committed));
    for (const f of files(fresh)) {
      expect(fs.readFileSync(path.join(committed, f), 'utf8'), f).toBe(
        fs.readFileSync(path.join(fresh, f), 'utf8'),
      );
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
