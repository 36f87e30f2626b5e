import fs from 'node:fs';
import path from 'node:path';
import { endpointProtoLayout, generateEndpointProto, PROTOS_DIR } from '@dozer/api';
import type { Schema } from '@dozer/core';

/** The fixed protos a client needs beside the generated ones (imports of the generated files). */
const FIXED = ['dozer/common.proto', 'dozer/types.proto'];

/** Where `dozer build` and `dozer run` write the `.proto` files of a config's endpoints. */
export function protoDirOf(homeDir: string): string {
  return path.join(homeDir, 'generated');
}

/**
 * Writes one `.proto` per endpoint, generated from its schema, plus the
 * fixed protos they import, under `dir`. Returns the files written.
 */
export function writeProtos(dir: string, endpointSchemas: ReadonlyMap<string, Schema>): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const rel of FIXED) {
    const target = path.join(dir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(path.join(PROTOS_DIR, rel), target);
    written.push(target);
  }
  for (const [name, schema] of endpointSchemas) {
    const endpoint = { name, schema };
    const target = path.join(dir, endpointProtoLayout(endpoint).fileName);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, generateEndpointProto(endpoint));
    written.push(target);
  }
  return written;
}
