import type { ApiConfig } from './types.js';

/** `home_dir` when the file gives none, relative to the config file's directory. */
export const DEFAULT_HOME_DIR = './.dozer';

/** API settings when the file gives none. Loopback by default: serving to the network is a choice. */
export const DEFAULT_API: ApiConfig = {
  rest: { host: '127.0.0.1', port: 8080 },
  grpc: { host: '127.0.0.1', port: 50051 },
  default_limit: 50,
  max_limit: 5000,
};
