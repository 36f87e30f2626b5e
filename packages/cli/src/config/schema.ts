import * as z from 'zod';

// The shape of dozer.yaml as written. Checks that need more than one value
// (references, duplicates) live in cross-checks.ts, so they can run even when
// some other part of the file has the wrong shape. Every check carries its own
// message; issue-messages.ts prefixes the key path and appends what was found.

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IDENTIFIER_HINT =
  'expected a name made of letters, digits and _ that does not start with a digit (SQL and the APIs use it as an identifier)';

const text = z.string().min(1, { error: 'expected a non-empty string' });
const identifier = z.string().regex(IDENTIFIER, { error: IDENTIFIER_HINT });
const fieldList = z.array(text).min(1, { error: 'expected at least one field name' });
const port = z
  .int()
  .min(0, { error: 'expected a port number from 0 to 65535' })
  .max(65535, { error: 'expected a port number from 0 to 65535' });
const limit = z.int().min(1, { error: 'expected a whole number of at least 1' });

const connection = z.strictObject({
  name: text,
  kind: text,
  config: z.unknown().optional(),
  thread: z.boolean().optional(),
});

const source = z.strictObject({
  name: identifier,
  connection: text,
  table_name: text.optional(),
  columns: z
    .array(text)
    .min(1, { error: 'expected at least one column, or leave columns out to take them all' })
    .optional(),
});

const secondaryIndexCreate = z
  .strictObject({
    sorted_inverted: z.strictObject({ fields: fieldList }).optional(),
    full_text: z.strictObject({ field: text }).optional(),
  })
  .refine((v) => (v.sorted_inverted === undefined) !== (v.full_text === undefined), {
    error:
      'expected exactly one of sorted_inverted or full_text, e.g. { sorted_inverted: { fields: [a, b] } } or { full_text: { field: c } }',
  });

const conflictResolution = z.strictObject({
  on_insert: z
    .enum(['nothing', 'update', 'panic'], {
      error:
        'expected nothing (keep the existing record), update (overwrite it) or panic (stop with an error)',
    })
    .optional(),
  on_update: z
    .enum(['nothing', 'upsert', 'panic'], {
      error:
        'expected nothing (ignore the update), upsert (insert the new record) or panic (stop with an error)',
    })
    .optional(),
  on_delete: z
    .enum(['nothing', 'panic'], {
      error: 'expected nothing (ignore the delete) or panic (stop with an error)',
    })
    .optional(),
});

const endpoint = z.strictObject({
  name: identifier,
  path: text,
  table_name: text,
  index: z
    .strictObject({
      primary_key: fieldList.optional(),
      secondary: z
        .strictObject({
          skip_default: z.array(text).optional(),
          create: z.array(secondaryIndexCreate).optional(),
        })
        .optional(),
    })
    .optional(),
  conflict_resolution: conflictResolution.optional(),
});

const server = z.strictObject({ host: text.optional(), port: port.optional() });
// A role's node: where it serves its logs, and where it serves GET /health and GET /metrics (off when absent).
const node = z.strictObject({ host: text.optional(), port: port.optional(), http_port: port.optional() });

const byteCount = z.int().min(1, { error: 'expected a number of bytes of at least 1' });

// One shape for both kinds, so a key of the other kind gets a located message from cross-checks.ts
// ("bucket is an s3 setting") rather than zod's union error.
const objectStore = z.strictObject({
  kind: z.enum(['local', 's3'], { error: 'expected local (a directory) or s3 (a bucket)' }).optional(),
  path: text.optional(),
  bucket: text.optional(),
  prefix: z.string().optional(),
  region: text.optional(),
  endpoint: text.optional(),
  force_path_style: z.boolean().optional(),
  credentials: z
    .strictObject({
      access_key_id: text,
      secret_access_key: text,
      session_token: text.optional(),
    })
    .optional(),
});

const nodes = z.strictObject({
  ingestor: node.optional(),
  processor: node.optional(),
  // The list form (nodes.ts): several nodes, each owning some sources or some INTO tables.
  ingestors: z
    .array(
      z.strictObject({
        name: identifier,
        host: text.optional(),
        port,
        http_port: port.optional(),
        sources: z.array(text).min(1, { error: 'expected at least one source that this ingestor runs' }),
      }),
    )
    .min(1, { error: 'expected at least one ingestor' })
    .optional(),
  processors: z
    .array(
      z.strictObject({
        name: identifier,
        host: text.optional(),
        port,
        http_port: port.optional(),
        tables: z
          .array(text)
          .min(1, { error: 'expected at least one INTO table that this processor computes' }),
      }),
    )
    .min(1, { error: 'expected at least one processor' })
    .optional(),
  object_store: objectStore.optional(),
  queue: z
    .strictObject({
      memory_limit_bytes: byteCount.optional(),
      offload_at_bytes: byteCount.optional(),
      segment_bytes: byteCount.optional(),
    })
    .optional(),
});

/** dozer.yaml as written, before defaults. */
export const rawConfigSchema = z.strictObject({
  version: z.literal(1, { error: 'expected 1, the only config version this Dozer reads' }),
  app_name: text,
  home_dir: text.optional(),
  connections: z.array(connection).optional(),
  sources: z.array(source).optional(),
  sql: z.string().optional(),
  threads: z
    .int()
    .min(0, { error: 'expected a whole number of worker threads, 0 or more' })
    .max(64, { error: 'expected at most 64 worker threads' })
    .optional(),
  endpoints: z.array(endpoint).optional(),
  api: z
    .strictObject({
      rest: z
        .strictObject({
          host: text.optional(),
          port: port.optional(),
          // Pages of other origins that may call the API from a browser (cross-checks.ts checks each).
          cors: z
            .strictObject({
              origins: z.array(text).min(1, {
                error: 'expected at least one origin such as https://app.example.com, or "*" for any',
              }),
              max_age_s: z
                .int()
                .min(0, { error: 'expected seconds a browser may keep a preflight answer, 0 or more' })
                .max(86400, { error: 'expected at most 86400 seconds (browsers cap it lower)' })
                .optional(),
            })
            .optional(),
        })
        .optional(),
      grpc: server.optional(),
      default_limit: limit.optional(),
      max_limit: limit.optional(),
      read_threads: z
        .int()
        .min(0, { error: 'expected a number of read threads, 0 or more (0: every read on the main thread)' })
        .max(64, { error: 'expected at most 64 read threads' })
        .optional(),
      auth: z
        .strictObject({
          algorithm: z.enum(['HS256', 'RS256'], {
            error: 'expected HS256 (shared secret) or RS256 (RSA key pair)',
          }),
          secret: text.optional(),
          public_key_file: text.optional(),
          private_key_file: text.optional(),
          issuer: text.optional(),
          audience: text.optional(),
        })
        .optional(),
    })
    .optional(),
  nodes: nodes.optional(),
  checkpoint: z
    .strictObject({
      interval_ms: z
        .int()
        .min(0, { error: 'expected milliseconds between checkpoints, 0 to turn checkpoints off' })
        .optional(),
      retain: z
        .int()
        .min(1, { error: 'expected how many complete checkpoints to keep, at least 1' })
        .max(1000, { error: 'expected at most 1000 checkpoints to keep' })
        .optional(),
    })
    .optional(),
});

/** dozer.yaml as written, before defaults. */
export type RawConfig = z.output<typeof rawConfigSchema>;

/** Keys that hold numbers in Dozer's own part of the file (a `${VAR}` there yields a number). */
export const NUMERIC_PATHS: readonly (readonly string[])[] = [
  ['version'],
  ['threads'],
  ['api', 'rest', 'port'],
  ['api', 'rest', 'cors', 'max_age_s'],
  ['api', 'grpc', 'port'],
  ['api', 'default_limit'],
  ['api', 'max_limit'],
  ['api', 'read_threads'],
  ['nodes', 'ingestor', 'port'],
  ['nodes', 'processor', 'port'],
  ['nodes', 'ingestor', 'http_port'],
  ['nodes', 'processor', 'http_port'],
  ['nodes', 'queue', 'memory_limit_bytes'],
  ['nodes', 'queue', 'offload_at_bytes'],
  ['nodes', 'queue', 'segment_bytes'],
  ['checkpoint', 'interval_ms'],
  ['checkpoint', 'retain'],
];

interface SchemaDef {
  readonly type: string;
  readonly innerType?: unknown;
  readonly in?: unknown;
  readonly shape?: Record<string, unknown>;
  readonly element?: unknown;
}

function defOf(schema: unknown): SchemaDef | undefined {
  return (schema as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  for (let def = defOf(s); def !== undefined; def = defOf(s)) {
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) s = def.in;
    else break;
  }
  return s;
}

/** The keys the schema allows in the map at `path` (for did-you-mean on unknown keys). */
export function allowedKeysAt(path: readonly (string | number)[]): string[] {
  let s: unknown = rawConfigSchema;
  for (const seg of path) {
    const def = defOf(unwrap(s));
    if (def?.type === 'object' && typeof seg === 'string') s = def.shape?.[seg];
    else if (def?.type === 'array') s = def.element;
    else return [];
  }
  const def = defOf(unwrap(s));
  return def?.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
}
