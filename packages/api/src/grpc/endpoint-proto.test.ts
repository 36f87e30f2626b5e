import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL_FIELD_TYPES, makeSchema } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { endpointProtoLayout, generateEndpointProto } from './endpoint-proto.js';
import { PROTOS_DIR } from './loader.js';

const pkg = fileURLToPath(new URL('../../', import.meta.url));

// Every field type, nullable and not, plus names that are not protobuf identifiers.
const schema = makeSchema(
  [
    ...ALL_FIELD_TYPES.map((type) => ({ name: `${type}_col`, type, nullable: false })),
    ...ALL_FIELD_TYPES.map((type) => ({ name: `${type}_null`, type, nullable: true })),
    { name: 'COUNT(*)', type: 'int', nullable: false },
    { name: 'count___', type: 'int', nullable: false },
    { name: '2nd', type: 'string', nullable: true },
  ],
  ['int_col', 'string_col'],
);

describe('generateEndpointProto', () => {
  it('compiles with buf (a protoc-grade compiler) against the fixed protos', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-proto-'));
    try {
      fs.cpSync(PROTOS_DIR, dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'buf.yaml'), 'version: v2\n');
      fs.writeFileSync(
        path.join(dir, 'all_types.proto'),
        generateEndpointProto({ name: 'all_types', schema }),
      );
      fs.writeFileSync(
        path.join(dir, 'no_key.proto'),
        generateEndpointProto({ name: 'no_key', schema: makeSchema(schema.fields) }),
      );
      const out = execFileSync(path.join(pkg, 'node_modules/.bin/buf'), ['build', '--error-format', 'text'], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(out).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('types each field as dozer/types.proto says, optional when nullable, and renames what is no identifier', () => {
    const text = generateEndpointProto({ name: 'all_types', schema });
    expect(text).toContain('package dozer.generated.all_types;');
    expect(text).toContain('service AllTypes {');
    expect(text).toContain('  int64 int_col = 1; // int');
    expect(text).toContain('  optional uint64 uint_null = 15; // uint, nullable');
    expect(text).toContain('  .dozer.types.Decimal decimal_null = 21; // decimal, nullable');
    expect(text).toContain('  .google.protobuf.Timestamp timestamp_col = 9; // timestamp');
    expect(text).toContain('  int64 COUNT___ = 27; // field "COUNT(*)", int');
    // Field names differing only in case clash in generated code: the second gets a suffix.
    expect(text).toContain('  int64 count____2 = 28; // field "count___", int');
    expect(text).toContain('  optional string _2nd = 29; // field "2nd", string, nullable');
    expect(text).toMatch(
      /message GetRequest \{\n {2}int64 int_col = 1; \/\/ int\n {2}string string_col = 5; \/\/ string\n\}/,
    );
    expect(generateEndpointProto({ name: 'all_types', schema })).toBe(text);
    expect(generateEndpointProto({ name: 'no_key', schema: makeSchema(schema.fields) })).not.toContain(
      'rpc get',
    );
  });

  it('refuses an endpoint name that cannot name a package', () => {
    expect(() => endpointProtoLayout({ name: 'my-trips', schema })).toThrow(/endpoint name "my-trips"/);
  });
});
