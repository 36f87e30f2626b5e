import path from 'node:path';
import {
  createAuthenticator,
  createRestApp,
  type MetricFamily,
  type Readiness,
  type RunningGrpcServer,
  type RunningServer,
  startGrpcServer,
  startHttpServer,
} from '@dozer/api';
import type { JsonValue, Schema } from '@dozer/core';
import { type EndpointStore, openStore, type Store } from '@dozer/store';
import { resolveAuthConfig } from '../auth.js';
import type { DozerConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { SourceStats } from '../progress.js';
import { protoDirOf, writeProtos } from '../protos.js';
import { alignBarriers } from './align.js';
import { secondaryIndexesOf } from './endpoint-indexes.js';
import { firstFailure } from './first-failure.js';
import { readError } from './process.js';
import type { Upstream } from './upstream.js';
import { Watermarks } from './watermarks.js';

/** What {@link startServer} needs. */
/** Store applies kept in flight per table: they share LMDB commits (1.4–1.9× the rate of one at a time). */
const APPLIES_IN_FLIGHT = 8;

export interface ServeOptions {
  readonly config: DozerConfig;
  /** Schema of each endpoint: its table's, keyed by `index.primary_key` when given. */
  readonly endpointSchemas: ReadonlyMap<string, Schema>;
  /** The processor's logs, one per endpoint table. */
  readonly upstream: Upstream;
  readonly log: Logger;
  /** Extra fields of `GET /health`; default: the tables read and their ops. */
  readonly health?: () => { [key: string]: JsonValue };
  /**
   * `GET /ready`; default: ready once every table applied its log up to where the log ended
   * when this role connected (then it stays ready).
   */
  readonly ready?: () => Readiness;
  /** Extra families of `GET /metrics` (the API's own come first); default: the tables read and their ops. */
  readonly metrics?: () => readonly MetricFamily[];
  /** Called once the store committed the entries of `table` before `next`. */
  readonly onApplied?: (table: string, next: bigint) => void;
  /**
   * The store to serve, already open (the role closes it when it stops);
   * default: opened under `home_dir/store`.
   */
  readonly store?: Store;
  /** Keep the endpoints' stored rows (a store rolled back to a checkpoint's epoch); default: reset them. */
  readonly keepRows?: boolean;
  /**
   * Checkpoints: at the barrier of epoch E (once it arrived on every table)
   * the store marks E, atomically with every apply before the barrier;
   * `onStoreEpoch` is called once that is on disk. Without it barriers pass.
   */
  readonly checkpoints?: {
    onStoreEpoch(epoch: bigint): void;
    onStoreEpochFailed(epoch: bigint, error: unknown): void;
  };
}

/** A running API role. */
export interface RunningServe {
  readonly url: string;
  /** `host:port` of the gRPC API. */
  readonly grpcAddress: string;
  readonly store: Store;
  /** Per endpoint table: ops applied; `snapshotDone` once caught up with the log's end when it connected. */
  readonly tables: readonly SourceStats[];
  endpointRows(): Array<[string, number]>;
  /** The next offset to apply of each table's log. */
  readonly watermarks: Watermarks;
  /** Rejects on the first failure (a store conflict, the processor lost); never resolves. */
  readonly failed: Promise<never>;
  /** Stops reading, waits for the writes in flight, closes the servers and the store. */
  stop(): Promise<void>;
}

/** The directory of the API role's store. */
export function storeDirOf(homeDir: string): string {
  return path.join(homeDir, 'store');
}

/** The API role's store, under `home_dir/store`, with the API's query limits. */
export function openServeStore(config: DozerConfig): Store {
  return openStore({
    path: storeDirOf(config.home_dir),
    maxLimit: config.api.max_limit,
    defaultLimit: config.api.default_limit,
    readThreads: config.api.read_threads,
  });
}

/**
 * Opens the store under `home_dir/store` (reset, unless `keepRows`: a
 * store rolled back to a checkpoint continues from it), serves
 * REST and gRPC, and applies each endpoint table's log to the endpoints
 * over it, in log order; an entry counts as applied once the store
 * committed it.
 */
export async function startServer(options: ServeOptions): Promise<RunningServe> {
  const { config, log, upstream } = options;
  const store = options.store ?? openServeStore(config);
  const endpointsByTable = new Map<string, EndpointStore[]>();
  const endpointStores: Array<[string, EndpointStore]> = [];
  let server: RunningServer | undefined;
  let grpc: RunningGrpcServer | undefined;
  const abort = new AbortController();
  try {
    for (const ep of config.endpoints) {
      const schema = options.endpointSchemas.get(ep.name)!;
      const es = store.openEndpoint(
        {
          name: ep.name,
          schema,
          ...(ep.index.primary_key ? { primaryKey: ep.index.primary_key } : {}),
          secondaryIndexes: secondaryIndexesOf(ep, schema),
          conflictResolution: {
            onInsert: ep.conflict_resolution.on_insert,
            onUpdate: ep.conflict_resolution.on_update,
            onDelete: ep.conflict_resolution.on_delete,
          },
        },
        { reset: options.keepRows !== true },
      );
      endpointStores.push([ep.name, es]);
      const list = endpointsByTable.get(ep.table_name) ?? [];
      list.push(es);
      endpointsByTable.set(ep.table_name, list);
    }

    const described = await upstream.logs();
    const tables: SourceStats[] = [...endpointsByTable.keys()].map((name) => ({
      name,
      ops: 0,
      batches: 0,
      snapshotDone: (described.get(name)?.next ?? 0n) === 0n,
      finished: false,
    }));

    const auth = config.api.auth ? createAuthenticator(resolveAuthConfig(config.api.auth)) : undefined;
    const cors = config.api.rest.cors;
    const tableMetrics = (): MetricFamily[] => [
      {
        name: 'dozer_table_ops_total',
        help: 'Operations of an upstream table applied to the store since the process started',
        type: 'counter',
        samples: tables.map((t) => ({ labels: { table: t.name }, value: t.ops })),
      },
      {
        name: 'dozer_table_live',
        help: '1 once a table caught up with its upstream, else 0',
        type: 'gauge',
        samples: tables.map((t) => ({ labels: { table: t.name }, value: t.snapshotDone ? 1 : 0 })),
      },
    ];
    const app = createRestApp({
      info: { title: config.app_name, version: '1' },
      ...(cors
        ? {
            cors: {
              origins: cors.origins.includes('*') ? '*' : cors.origins,
              maxAgeSeconds: cors.max_age_s,
            },
          }
        : {}),
      ...(auth ? { auth } : {}),
      endpoints: config.endpoints.map((ep) => ({
        name: ep.name,
        path: ep.path,
        store: endpointStores.find(([n]) => n === ep.name)![1],
      })),
      onInternalError: (e, req) => log.error(`${req.method} ${req.path} failed: ${e.stack ?? e.message}`),
      health:
        options.health ??
        (() => ({
          tables: Object.fromEntries(
            tables.map((t) => [t.name, { ops: t.ops, phase: t.snapshotDone ? 'live' : 'catching up' }]),
          ),
        })),
      ready: options.ready ?? caughtUp(tables),
      metrics: () => [
        {
          name: 'dozer_store_read_thread_reads_total',
          help: 'Queries and counts that may read many rows, answered by a read thread of the store (api.read_threads)',
          type: 'counter',
          samples: [{ value: store.readThreadReads() }],
        },
        ...(options.metrics ?? tableMetrics)(),
      ],
    });
    server = await startHttpServer(app, config.api.rest);
    const protoDir = protoDirOf(config.home_dir);
    writeProtos(protoDir, options.endpointSchemas);
    grpc = await startGrpcServer({
      endpoints: endpointStores.map(([name, store]) => ({ name, store })),
      host: config.api.grpc.host,
      port: config.api.grpc.port,
      protoDir,
      ...(auth ? { auth } : {}),
      onInternalError: (e, call) => log.error(`gRPC ${call.method} failed: ${e.stack ?? e.message}`),
    });

    const watermarks = new Watermarks();
    const { failed, stopWith } = firstFailure(abort);
    // Aligned barriers: a table that reads the barrier of epoch E stops until E arrived on every
    // table. Every apply before the barrier has been called then, and none after it, so the store
    // marks E there (in the commit of the last of them).
    const barrier = alignBarriers(tables.length, (epoch) => {
      const cp = options.checkpoints!;
      store.markEpoch(epoch).then(
        () => cp.onStoreEpoch(epoch),
        (e: unknown) => cp.onStoreEpochFailed(epoch, e),
      );
    });
    // A loop per table: each endpoint store is written by one loop, in log order. Up to
    // APPLIES_IN_FLIGHT applies run at once (the store keeps their order and lets them share
    // commits); an entry counts as applied (watermark, acknowledgement) only once its own apply
    // and every earlier one committed.
    const readers = tables.map(async (stats) => {
      const stores = endpointsByTable.get(stats.name)!;
      const caughtUpAt = described.get(stats.name)?.next ?? 0n;
      let settled: Promise<void> = Promise.resolve();
      let inFlight = 0;
      let wake: (() => void) | null = null;
      const settleInOrder = (applied: Promise<unknown>, next: bigint, ops: number) => {
        inFlight++;
        settled = settled
          .then(async () => {
            await applied;
            if (ops > 0) {
              stats.ops += ops;
              stats.batches += 1;
            }
            watermarks.set(stats.name, next);
            if (next >= caughtUpAt) stats.snapshotDone = true;
            options.onApplied?.(stats.name, next);
          })
          .finally(() => {
            inFlight--;
            const w = wake;
            wake = null;
            w?.();
          });
        // Nothing after a failed apply counts as applied; the run stops.
        settled.catch((e: unknown) => stopWith(e));
      };
      try {
        for await (const entry of upstream.read(stats.name, 0n, abort.signal)) {
          const batch = entry.batch;
          if (batch === null && options.checkpoints) {
            const message = entry.message;
            if (message.kind === 'barrier') await barrier(message.epoch);
            if (abort.signal.aborted) break;
          }
          const ops = batch?.ops.length ?? 0;
          const applied = ops > 0 ? Promise.all(stores.map((es) => es.apply(batch!.ops))) : Promise.resolve();
          applied.catch(() => {});
          settleInOrder(applied, entry.offset + 1n, ops);
          while (inFlight >= APPLIES_IN_FLIGHT) await new Promise<void>((r) => (wake = r));
        }
        await settled;
      } catch (e) {
        await settled.catch(() => {});
        if (abort.signal.aborted) return;
        stopWith(readError(e, upstream.label, stats.name));
      }
    });

    let stopped = false;
    const running: RunningServe = {
      url: server.url,
      grpcAddress: grpc.address,
      store,
      tables,
      endpointRows: () => endpointStores.map(([name, es]) => [name, es.count()]),
      watermarks,
      failed,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        abort.abort();
        await Promise.allSettled(readers);
        await grpc?.close();
        await server?.close();
        await store.close();
      },
    };
    return running;
  } catch (e) {
    abort.abort();
    await grpc?.close();
    await server?.close();
    await store.close();
    throw e;
  }
}

/**
 * Readiness of an API role reading logs: ready once every table caught up with
 * its log as it was when the role connected (`snapshotDone`), and from then on.
 */
function caughtUp(tables: readonly SourceStats[]): () => Readiness {
  let ready = false;
  return () => {
    if (ready) return { ready };
    const behind = tables.filter((t) => !t.snapshotDone);
    ready = behind.length === 0;
    return {
      ready,
      waiting: behind.map(
        (t) => `table "${t.name}": applying its log (${t.ops.toLocaleString('en-US')} ops so far)`,
      ),
    };
  };
}
