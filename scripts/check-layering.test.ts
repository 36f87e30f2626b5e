import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkLayering } from './check-layering.mjs';

function repoWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layering-'));
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), text);
  }
  return dir;
}

describe('check-layering', () => {
  it('passes on this repository', () => {
    expect(checkLayering()).toEqual([]);
  });

  it('rejects an upward import, an undeclared dependency and a reach into another package', () => {
    const dir = repoWith({
      'packages/core/package.json': '{"dependencies":{"@dozer/store":"workspace:^"}}',
      'packages/core/src/a.ts': "import { x } from '@dozer/store';\n",
      'packages/store/package.json': '{}',
      'packages/store/src/b.ts':
        "\nimport { y } from '@dozer/core';\nimport { z } from '../../sql/src/index.js';\n",
      'packages/api/package.json': '{"dependencies":{"@dozer/store":"workspace:^"}}',
      'packages/api/src/c.ts': "export * from '@dozer/store/internal/keys.js';\n",
    });
    const problems: string[] = checkLayering(dir);
    expect(problems).toContain(
      'packages/core/package.json: core must not depend on @dozer/store (allowed: none)',
    );
    expect(problems).toContain('packages/core/src/a.ts:1: core must not import @dozer/store (allowed: none)');
    expect(problems).toContain(
      'packages/store/src/b.ts:2: imports @dozer/core but packages/store/package.json does not declare it',
    );
    expect(problems).toContain(
      'packages/store/src/b.ts:3: relative import "../../sql/src/index.js" leaves store; import the other package by name',
    );
    expect(problems).toContain(
      `packages/api/src/c.ts:1: "@dozer/store/internal/keys.js" reaches into another package's internal/; import its public entry point`,
    );
  });
});
