import type { ApiConfig, CheckpointConfig, ServerAddress } from './types.js';

/** `home_dir` when the file gives none, relative to the config file's directory. */
export const DEFAULT_HOME_DIR = './.dozer';

/** SQL operators run on the main thread unless `threads` asks for workers. */
export const DEFAULT_THREADS = 0;

/** Checkpoints when the file gives no `checkpoint` section: every 5 s, keeping the newest 3. */
export const DEFAULT_CHECKPOINT: CheckpointConfig = { interval_ms: 5000, retain: 3 };

/** API settings when the file gives none. Loopback by default: serving to the network is a choice. */
export const DEFAULT_API: ApiConfig = {
  rest: { host: '127.0.0.1', port: 8080 },
  grpc: { host: '127.0.0.1', port: 50051 },
  default_limit: 50,
  max_limit: 5000,
  read_threads: 1,
};

/** Where the ingestor and the processor serve their logs when `nodes` gives no address. */
export const DEFAULT_NODE_ADDRESSES: { readonly ingestor: ServerAddress; readonly processor: ServerAddress } =
  {
    ingestor: { host: '127.0.0.1', port: 50052 },
    processor: { host: '127.0.0.1', port: 50053 },
  };

/** The local object store's directory when `nodes.object_store` gives none, relative to `home_dir`. */
export const DEFAULT_OBJECT_STORE_DIR = 'objects';

/** Per-log memory bound of the queues: 64 MiB, offloading from half of it. */
export const DEFAULT_QUEUE_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024;

/** Largest default segment file. */
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
