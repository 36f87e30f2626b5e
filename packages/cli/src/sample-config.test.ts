import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderInitTemplate } from './config/index.js';

describe('the repository sample dozer.yaml', () => {
  it('is exactly what `dozer init` writes, so the README demo runs the documented sample', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    expect(fs.readFileSync(path.join(root, 'dozer.yaml'), 'utf8')).toBe(renderInitTemplate());
  });
});
