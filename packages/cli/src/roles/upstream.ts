import type { ObjectStore, Schema } from '@dozer/core';
import { connectLogClient, type LogClient, type LogEntry, type LogQueue } from '@dozer/queue';
import { UpstreamLostError } from '../errors.js';
import type { Logger } from '../logger.js';

/** A log an upstream role serves: its schema, the offset its next append gets, and its labels. */
export interface UpstreamLog {
  readonly schema: Schema;
  readonly next: bigint;
  /** What the upstream states about the log (see {@link EXACT_CHANGES_LABEL}). */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * The label (value `"true"`) an ingestor puts on the log of a source whose
 * connector guarantees exact changes (`TableInfo.exactChanges`), so that a
 * processor in another process takes its changes as they are, as `dozer
 * run` does, instead of normalizing them.
 */
export const EXACT_CHANGES_LABEL = 'dozer.exact_changes';

/** The names of the logs labelled as carrying exact changes. */
export function exactLogs(logs: ReadonlyMap<string, UpstreamLog>): Set<string> {
  return new Set([...logs].filter(([, l]) => l.labels[EXACT_CHANGES_LABEL] === 'true').map(([n]) => n));
}

/**
 * The logs of the role before this one: the ingestor's for a processor, the
 * processor's for the API. `dozer run` reads them in process (`Log.read`),
 * the separate roles over the gRPC log protocol. With several nodes
 * (`nodes.ingestors`, `nodes.processors`) it is several of those combined
 * ({@link combineUpstreams}).
 */
export interface Upstream {
  /** `the ingestor at 127.0.0.1:50052`: names it in messages. */
  readonly label: string;
  /** The logs it serves now, by name. */
  logs(): Promise<Map<string, UpstreamLog>>;
  /** Entries of `log` from `from` on, then live ones; ends quietly on `signal`. */
  read(log: string, from: bigint, signal: AbortSignal): AsyncGenerator<LogEntry>;
  close(): void;
}

/** The logs of a queue in this process. */
export function localUpstream(queue: LogQueue, label: string): Upstream {
  return {
    label,
    async logs() {
      return new Map(queue.logs().map((l) => [l.name, { schema: l.schema, next: l.next, labels: l.labels }]));
    },
    read: (log, from, signal) => queue.log(log).read({ from, signal }),
    close() {},
  };
}

/** Backoff of {@link connectUpstream}: from 250 ms, doubling, up to 5 s between attempts. */
const FIRST_WAIT_MS = 250;
const LONGEST_WAIT_MS = 5000;

/**
 * Connects to the log server of an upstream role at `address` and waits
 * until it answers: while it is unreachable (not started yet, restarting,
 * a network problem) each failed attempt is logged and retried with
 * exponential backoff. Errors that a retry cannot fix are thrown; so is
 * nothing when `signal` aborts (it resolves `undefined`).
 */
export async function connectUpstream(
  role: string,
  address: string,
  store: ObjectStore,
  storeLabel: string,
  log: Logger,
  signal: AbortSignal,
  /** One of several nodes: its name (in the label) and the command that runs it (in the hint). */
  node?: { readonly name: string; readonly command: string },
): Promise<{ upstream: Upstream; logs: Map<string, UpstreamLog> } | undefined> {
  const label = node ? `the ${role} "${node.name}" at ${address}` : `the ${role} at ${address}`;
  const command = node?.command ?? (role === 'ingestor' ? 'ingest' : 'process');
  let wait = FIRST_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const client = connectLogClient({ address, store, storeLabel });
    try {
      const described = await client.describe();
      if (attempt > 1) log.info(`reached ${label}`);
      const upstream = remoteUpstream(client, label);
      return {
        upstream,
        logs: new Map(described.map((d) => [d.name, { schema: d.schema, next: d.next, labels: d.labels }])),
      };
    } catch (e) {
      client.close();
      if ((e as { retryable?: boolean }).retryable !== true) throw e;
      if (signal.aborted) return undefined;
      log.warn(
        `${label} is unreachable (${transportReason(e)}); is "dozer ${command}" running there? retrying in ${formatMs(wait)}`,
      );
      await sleep(wait, signal);
      if (signal.aborted) return undefined;
      wait = Math.min(wait * 2, LONGEST_WAIT_MS);
    }
  }
}

/**
 * Several upstream nodes as one: `logs()` merges what each serves of the
 * tables routed to it, `read(log, …)` reads from the node `log` is routed
 * to. A read that loses its node fails with an {@link UpstreamLostError}
 * naming that node. One part is returned as it is.
 */
export function combineUpstreams(
  parts: ReadonlyArray<{ readonly upstream: Upstream; readonly tables: readonly string[] }>,
): Upstream {
  if (parts.length === 1) return parts[0]!.upstream;
  const route = new Map<string, Upstream>();
  for (const { upstream, tables } of parts) for (const t of tables) if (!route.has(t)) route.set(t, upstream);
  return {
    label: parts.map((p) => p.upstream.label).join(', '),
    async logs() {
      const all = await Promise.all(parts.map((p) => p.upstream.logs()));
      const merged = new Map<string, UpstreamLog>();
      all.forEach((logs, i) => {
        for (const t of parts[i]!.tables) {
          const l = logs.get(t);
          if (l && !merged.has(t)) merged.set(t, l);
        }
      });
      return merged;
    },
    async *read(log, from, signal) {
      const upstream = route.get(log);
      if (!upstream) throw new Error(`no upstream node serves log "${log}"`);
      try {
        yield* upstream.read(log, from, signal);
      } catch (e) {
        if ((e as { retryable?: boolean }).retryable === true && !(e instanceof UpstreamLostError)) {
          throw new UpstreamLostError(upstream.label, log, e);
        }
        throw e;
      }
    },
    close() {
      for (const p of parts) p.upstream.close();
    },
  };
}

function remoteUpstream(client: LogClient, label: string): Upstream {
  return {
    label,
    async logs() {
      const described = await client.describe();
      return new Map(described.map((d) => [d.name, { schema: d.schema, next: d.next, labels: d.labels }]));
    },
    read: (log, from, signal) => client.read(log, { from, signal }),
    close: () => client.close(),
  };
}

/** The socket error inside grpc-js' "No connection established. Last error: …" message, else the message. */
function transportReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const m = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(message);
  return m?.[1] ? m[1] : message;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
