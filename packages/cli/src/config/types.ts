/** A connection to a data source: a connector kind and its settings. */
export interface ConnectionConfig {
  /** Name that sources refer to. */
  readonly name: string;
  /** A built-in connector (`generator`, `postgres`, ...) or the npm package name of a plugin. */
  readonly kind: string;
  /** Connector settings, as written (after `${VAR}` substitution; `{}` when left out). */
  readonly config: unknown;
  /**
   * Whether `dozer run` and `dozer ingest` run the connector on a worker
   * thread of its own (default true); false keeps it on the main thread
   * (a plugin whose native addon cannot load in a worker).
   */
  readonly thread: boolean;
}

/** A table read from a connection, under the name SQL sees. */
export interface SourceConfig {
  /** The table name SQL sees. */
  readonly name: string;
  /** Name of a {@link ConnectionConfig}. */
  readonly connection: string;
  /** The connector's table (defaults to `name`). */
  readonly table_name: string;
  /** A subset of the connector table's columns; absent means all. */
  readonly columns?: readonly string[];
}

/** One extra secondary index on an endpoint, as in Dozer. */
export type SecondaryIndexSpec =
  | { readonly sorted_inverted: { readonly fields: readonly string[] } }
  | { readonly full_text: { readonly field: string } };

/** The indexes of an endpoint. */
export interface EndpointIndexConfig {
  /** Key fields; absent means the table's own primary key. */
  readonly primary_key?: readonly string[];
  readonly secondary: {
    /** Fields that get no default secondary index. */
    readonly skip_default: readonly string[];
    /** Extra indexes beyond the default one per field. */
    readonly create: readonly SecondaryIndexSpec[];
  };
}

/** A table served over REST and gRPC. */
export interface EndpointConfig {
  /** Endpoint name (used for the gRPC service and the OpenAPI operation ids). */
  readonly name: string;
  /** REST path, starting with `/`. */
  readonly path: string;
  /** A source or a table the SQL writes with `INTO`. */
  readonly table_name: string;
  readonly index: EndpointIndexConfig;
  readonly conflict_resolution: ConflictResolutionConfig;
}

/**
 * What the store does when an operation does not fit what it holds, as in
 * Dozer: an insert of an existing key, an update or delete of a missing one.
 * Defaults: on_insert update, on_update upsert, on_delete nothing (the
 * latest change wins).
 */
export interface ConflictResolutionConfig {
  readonly on_insert: 'nothing' | 'update' | 'panic';
  readonly on_update: 'nothing' | 'upsert' | 'panic';
  readonly on_delete: 'nothing' | 'panic';
}

/** Where a server listens. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** API servers and query limits. */
export interface ApiConfig {
  /** Default 127.0.0.1:8080. */
  readonly rest: ServerAddress & {
    /** Pages of other origins that may call the REST API from a browser; absent: none. */
    readonly cors?: CorsSettings;
  };
  /** Default 127.0.0.1:50051. */
  readonly grpc: ServerAddress;
  /** Records returned when a query gives no limit (default 50). */
  readonly default_limit: number;
  /** Largest limit a query may ask for (default 5000). */
  readonly max_limit: number;
  /**
   * Threads that answer queries and counts that may read many rows (no
   * usable index, a sort in memory, a large skip), so that they never hold
   * up the other requests or the writes (default 1; 0: none).
   */
  readonly read_threads: number;
  /** JWT bearer-token auth on REST and gRPC; open when absent. Key files are absolute paths. */
  readonly auth?: AuthSettings;
}

/** `api.rest.cors`: which web pages of other origins may call the REST API. */
export interface CorsSettings {
  /** Exact origins (`https://app.example.com`), or `["*"]` for any page. */
  readonly origins: readonly string[];
  /** How long a browser may keep a preflight answer (default 600 s). */
  readonly max_age_s: number;
}

/** `api.auth`: how bearer tokens are signed and checked. */
export interface AuthSettings {
  readonly algorithm: 'HS256' | 'RS256';
  /** HS256: the shared secret (use `${ENV}` substitution). */
  readonly secret?: string;
  /** RS256: PEM public key that verifies tokens. */
  readonly public_key_file?: string;
  /** RS256: PEM private key, needed only by `dozer security generate-token`. */
  readonly private_key_file?: string;
  readonly issuer?: string;
  readonly audience?: string;
}

/** Where the log queues of the ingestor and the processor offload their segments. */
export type ObjectStoreSettings =
  | {
      readonly kind: 'local';
      /** Absolute path of the directory (default `<home_dir>/objects`; relative paths are resolved against the config file). */
      readonly path: string;
    }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      /** Prepended to every key; empty or ending in `/` (default empty). */
      readonly prefix: string;
      /** Default: the SDK's (`us-east-1` when nothing is configured). */
      readonly region?: string;
      /** An S3-compatible server (MinIO, R2, s3rver); default AWS. */
      readonly endpoint?: string;
      /** Path-style URLs, which most S3-compatible servers need (default false). */
      readonly force_path_style: boolean;
      /** Default: the SDK's credential chain (environment, profile, instance role). */
      readonly credentials?: {
        readonly access_key_id: string;
        readonly secret_access_key: string;
        readonly session_token?: string;
      };
    };

/** Memory bounds of each log queue (per log, in bytes). */
export interface QueueSettings {
  /** Upper bound of a log's in-memory tail; appends wait beyond it (default 64 MiB). */
  readonly memory_limit_bytes: number;
  /** Past this the oldest entries are written to segments in the object store (default half the limit). */
  readonly offload_at_bytes: number;
  /** Target size of one segment file (default min(8 MiB, offload_at_bytes)). */
  readonly segment_bytes: number;
}

/** An ingestor node: where `dozer ingest --node <name>` serves its logs, and the sources it runs. */
export interface IngestorNodeConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Where the role serves `GET /health` and `GET /metrics` over HTTP, on `host` (absent: not served; 0: any free port). */
  readonly http_port?: number;
  /** Names of the sources it owns. */
  readonly sources: readonly string[];
}

/** A processor node: where `dozer process --node <name>` serves its outputs, and the INTO tables it computes. */
export interface ProcessorNodeConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Where the role serves `GET /health` and `GET /metrics` over HTTP, on `host` (absent: not served; 0: any free port). */
  readonly http_port?: number;
  /** The INTO tables it owns: it runs the SQL statements that write them. */
  readonly tables: readonly string[];
}

/**
 * `nodes`: how `dozer ingest`, `dozer process` and `dozer serve` find each
 * other, and what they share. `dozer run` uses only `object_store` and `queue`.
 */
export interface NodesConfig {
  /** Where `dozer ingest` serves its logs (default 127.0.0.1:50052); the processor connects here. */
  readonly ingestor: ServerAddress;
  /** Where `dozer process` serves its outputs (default 127.0.0.1:50053); `dozer serve` connects here. */
  readonly processor: ServerAddress;
  /**
   * Every ingestor: `nodes.ingestors` as written, else one named `ingestor`
   * at {@link ingestor} that owns every source.
   */
  readonly ingestors: readonly IngestorNodeConfig[];
  /**
   * Every processor: `nodes.processors` as written, else one named
   * `processor` at {@link processor} that owns every INTO table.
   */
  readonly processors: readonly ProcessorNodeConfig[];
  /** The lists were written (`nodes.ingestors`, `nodes.processors`); then `ingestor` and `processor` are unused. */
  readonly listed: boolean;
  /** The object store every role reaches: segments are written by one role and read by the next. */
  readonly object_store: ObjectStoreSettings;
  readonly queue: QueueSettings;
}

/** A validated dozer.yaml with every default filled in. */
export interface DozerConfig {
  readonly version: 1;
  readonly app_name: string;
  /** Absolute path of the directory for local state (default `.dozer` beside the config file). */
  readonly home_dir: string;
  /** Absolute path of the config file's directory: relative paths in connections' configs are resolved against it. */
  readonly base_dir: string;
  readonly connections: readonly ConnectionConfig[];
  readonly sources: readonly SourceConfig[];
  /** The SQL transformations, if any. */
  readonly sql?: string;
  /**
   * Worker threads for the SQL operators (default 0: they run on the main
   * thread). With n ≥ 1 each heavy operator (join, aggregate, window, top-N)
   * is a micro-node, spread over at most n worker threads.
   */
  readonly threads: number;
  readonly endpoints: readonly EndpointConfig[];
  readonly api: ApiConfig;
  readonly nodes: NodesConfig;
  readonly checkpoint: CheckpointConfig;
}

/**
 * Checkpoints (`checkpoint:`): how often the pipeline records a consistent
 * cut (source positions, SQL operator state, the store's epoch) in the
 * object store, so that a restart resumes from it instead of re-reading the
 * sources.
 */
export interface CheckpointConfig {
  /** Milliseconds between checkpoints (default 5000); 0 turns them off: every start rebuilds from the sources. */
  readonly interval_ms: number;
  /** Complete checkpoints kept (default 3); older ones and the objects only they use are deleted. */
  readonly retain: number;
}

/** One problem a connector finds in its `config`; `path` is relative to that `config` key. */
export interface ConnectionConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Validates the `config` of one connector kind; returns no issues when it is fine. */
export type ConnectionValidator = (config: unknown) => readonly ConnectionConfigIssue[];

/** Options of `loadConfig` and `parseConfig`. */
export interface ParseConfigOptions {
  /** Variables for `${VAR}` substitution (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Validators by connector kind. Their keys are also the kinds the file may
   * name (besides npm package names of plugins); without this map, the
   * built-in kinds are accepted and connector settings go unchecked.
   */
  readonly connectionValidators?: ReadonlyMap<string, ConnectionValidator>;
}
