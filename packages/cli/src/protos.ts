import path from 'node:path';
import { writeProtoFiles } from '@dozer/api';
import type { Schema } from '@dozer/core';

/** Where `dozer build` and `dozer run` write the `.proto` files of a config's endpoints. */
export function protoDirOf(homeDir: string): string {
  return path.join(homeDir, 'generated');
}

/**
 * Writes one `.proto` per endpoint, generated from its schema, plus the
 * fixed protos they import, under `dir`. Returns the files written.
 */
export function writeProtos(dir: string, endpointSchemas: ReadonlyMap<string, Schema>): string[] {
  return writeProtoFiles(
    dir,
    [...endpointSchemas].map(([name, schema]) => ({ name, schema })),
  );
}
