import { createLocalObjectStore, type ObjectStore } from '@dozer/core';
import { type LogQueue, openLogQueue, S3ObjectStore } from '@dozer/queue';
import type { NodesConfig, ObjectStoreSettings } from '../config/index.js';

/** The object store of `nodes.object_store`, as this process reaches it. */
export interface OpenedObjectStore {
  readonly store: ObjectStore;
  /** `local directory /x/objects`, `s3://bucket/prefix`: names the store in messages. */
  readonly label: string;
  /** Releases its sockets (S3). */
  close(): void;
}

/** Opens `nodes.object_store`: a local directory, or an S3 bucket (the SDK loads on first use). */
export function openObjectStore(settings: ObjectStoreSettings): OpenedObjectStore {
  if (settings.kind === 'local') {
    return {
      store: createLocalObjectStore(settings.path),
      label: `the local directory ${settings.path}`,
      close() {},
    };
  }
  const s3 = new S3ObjectStore({
    bucket: settings.bucket,
    ...(settings.prefix === '' ? {} : { prefix: settings.prefix }),
    ...(settings.region === undefined ? {} : { region: settings.region }),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    forcePathStyle: settings.force_path_style,
    ...(settings.credentials === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: settings.credentials.access_key_id,
            secretAccessKey: settings.credentials.secret_access_key,
            ...(settings.credentials.session_token === undefined
              ? {}
              : { sessionToken: settings.credentials.session_token }),
          },
        }),
  });
  return { store: s3, label: s3.label, close: () => s3.close() };
}

/** Deletes `keys` from `store`, 32 at a time. */
export async function deleteKeys(store: ObjectStore, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 32) {
    await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
  }
}

/** Key prefixes of the two queues in the shared object store. */
export const QUEUE_PREFIX = { ingest: 'ingest', process: 'process' } as const;

/**
 * Opens the queue of one role over the shared store, after deleting what a
 * previous run of that role left under its prefix: every start (of a run,
 * or of a generation of the separate roles) re-reads its input from the
 * beginning or from a checkpoint, and appending to the old logs would serve
 * their entries twice.
 */
export async function openFreshQueue(
  opened: OpenedObjectStore,
  prefix: string,
  nodes: NodesConfig,
  onError: (e: unknown, log: string) => void,
): Promise<LogQueue> {
  await deleteKeys(opened.store, await opened.store.list(`${prefix}/`));
  return openLogQueue({
    store: opened.store,
    storeLabel: opened.label,
    prefix,
    memoryLimitBytes: nodes.queue.memory_limit_bytes,
    offloadAtBytes: nodes.queue.offload_at_bytes,
    segmentTargetBytes: nodes.queue.segment_bytes,
    onError,
  });
}
