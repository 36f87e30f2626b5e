import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatMetrics, METRICS_CONTENT_TYPE, type MetricFamily } from '@dozer/api';
import type { JsonValue } from '@dozer/core';
import type { Log, LogServer, LogStats } from '@dozer/queue';
import { sourceMetrics, sourcesHealth } from '../progress.js';
import type { RunningIngestor } from './ingest.js';
import type { RunningProcessor } from './process.js';

/**
 * Where a role that serves no API (`dozer ingest`, `dozer process`) is:
 * `starting` (loading, planning, resuming), `connecting` (waiting for its
 * upstream), `serving` (its logs are served and it is working),
 * `restarting` (a new generation, a lost upstream) or `stopping`.
 */
export type RolePhase = 'starting' | 'connecting' | 'serving' | 'restarting' | 'stopping';

/** What the role running now adds to `GET /health` and `GET /metrics`. */
export interface RoleReport {
  health(): { [key: string]: JsonValue };
  metrics(): readonly MetricFamily[];
}

/**
 * The state of one role process, which outlives the role's restarts: the
 * supervisor sets the phase and the generation, each start of the role its
 * report (and clears it when it stops).
 */
export class RoleStatus {
  phase: RolePhase = 'starting';
  generation: number | undefined;
  /** Starts of the role after the first (new generations, lost upstreams). */
  restarts = 0;
  report: RoleReport | undefined;
  private readonly since = Date.now();

  constructor(
    /** `ingestor` or `processor`. */
    readonly role: string,
    /** The node's name (`ingestor`, `processor` in the one-node form). */
    readonly node: string,
  ) {}

  /** A new start of the role: its report is cleared until it is running again. */
  restart(): void {
    this.restarts++;
    this.report = undefined;
    this.phase = 'restarting';
  }

  health(): { [key: string]: JsonValue } {
    return {
      status: this.phase === 'serving' ? 'SERVING' : 'NOT_SERVING',
      phase: this.phase,
      role: this.role,
      node: this.node,
      ...(this.generation === undefined ? {} : { generation: this.generation }),
      restarts: this.restarts,
      uptime_s: Math.floor((Date.now() - this.since) / 1000),
      ...(this.report?.health() ?? {}),
    };
  }

  metrics(): MetricFamily[] {
    const labels = { role: this.role, node: this.node };
    return [
      {
        name: 'dozer_role_serving',
        help: '1 while the role serves its logs and works, 0 while it starts, connects, restarts or stops',
        type: 'gauge',
        samples: [{ labels, value: this.phase === 'serving' ? 1 : 0 }],
      },
      {
        name: 'dozer_role_restarts_total',
        help: 'Starts of the role after the first (a new checkpoint generation, a lost upstream)',
        type: 'counter',
        samples: [{ labels, value: this.restarts }],
      },
      ...(this.generation === undefined
        ? []
        : [
            {
              name: 'dozer_role_generation',
              help: 'The checkpoint generation the role runs in',
              type: 'gauge' as const,
              samples: [{ labels, value: this.generation }],
            },
          ]),
      ...(this.report?.metrics() ?? []),
    ];
  }
}

/** A running status server. */
export interface StatusServer {
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /health` (JSON; 200 while the role is serving, else 503, for
 * readiness probes) and `GET /metrics` (Prometheus text) of `status` at
 * `host:port`; `key` names the setting in the message when it cannot
 * listen. Anything else is a JSON 404 (405 for a method other than GET or
 * HEAD).
 */
export async function startStatusServer(
  status: RoleStatus,
  at: { host: string; port: number },
  key: string,
): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const error = (code: number, name: string, message: string) =>
      send(code, 'application/json', JSON.stringify({ code: name, message }));
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/health' && path !== '/metrics') {
      return error(404, 'NOT_FOUND', `no route ${path}: this role serves GET /health and GET /metrics`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return error(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}: only GET and HEAD are served`);
    }
    try {
      if (path === '/metrics') return send(200, METRICS_CONTENT_TYPE, formatMetrics(status.metrics()));
      const health = status.health();
      send(health.status === 'SERVING' ? 200 : 503, 'application/json', JSON.stringify(health));
    } catch (e) {
      error(500, 'INTERNAL', `cannot report ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new Error(
          `cannot serve /health and /metrics on ${at.host}:${at.port} (${key}): ${e.message}; is another process listening there?`,
          { cause: e },
        ),
      ),
    );
    server.listen(at.port, at.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What a role serves from: its logs and their server. */
interface ServedLogs {
  readonly logs: ReadonlyMap<string, Log>;
  readonly server: Pick<LogServer, 'stats'>;
}

/** The served logs' figures: per log its next offset, memory, segments, waiting appends; the open reads. */
function logsReport({ logs, server }: ServedLogs): RoleReport {
  const all = () => [...logs.values()].map((l) => [l.name, l.stats()] as const);
  return {
    health: () => ({
      logs: Object.fromEntries(
        all().map(([name, s]) => [
          name,
          {
            next: Number(s.next),
            memory_bytes: s.memoryBytes,
            segments: s.segments,
            ...(s.waitingAppends > 0 ? { waiting_appends: s.waitingAppends } : {}),
            ...(s.lastError ? { last_error: errorText(s.lastError) } : {}),
          },
        ]),
      ),
      reads: server.stats().reads,
    }),
    metrics: () => {
      const stats = all();
      const perLog = (name: string, help: string, pick: (s: LogStats) => number): MetricFamily => ({
        name,
        help,
        type: 'gauge',
        samples: stats.map(([log, s]) => ({ labels: { log }, value: pick(s) })),
      });
      return [
        perLog('dozer_log_next_offset', 'The offset the next entry appended to the log gets', (s) =>
          Number(s.next),
        ),
        perLog('dozer_log_memory_bytes', "Bytes of the log's in-memory tail", (s) => s.memoryBytes),
        perLog('dozer_log_segments', 'Segments of the log in the object store', (s) => s.segments),
        perLog(
          'dozer_log_waiting_appends',
          'Appends waiting for memory (backpressure)',
          (s) => s.waitingAppends,
        ),
        perLog('dozer_log_failing', '1 while the last offload or index write of the log failed', (s) =>
          s.lastError ? 1 : 0,
        ),
        {
          name: 'dozer_log_reads',
          help: 'Read streams the log server has open (downstream roles reading)',
          type: 'gauge',
          samples: [{ value: server.stats().reads }],
        },
      ];
    },
  };
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `dozer ingest`'s report: its sources as `dozer run` shows them, its logs and their checkpoints. */
export function ingestorReport(
  ingestor: Pick<RunningIngestor, 'sources' | 'logs'>,
  server: ServedLogs['server'],
  checkpoints?: { health(): { [key: string]: JsonValue } },
): RoleReport {
  const logs = logsReport({ logs: ingestor.logs, server });
  return {
    health: () => ({
      sources: sourcesHealth(ingestor.sources),
      ...logs.health(),
      ...(checkpoints ? { checkpoint: checkpoints.health() } : {}),
    }),
    metrics: () => [...sourceMetrics(ingestor.sources), ...logs.metrics()],
  };
}

/** `dozer process`'s report: its input logs (ops read, caught up), its output logs. */
export function processorReport(
  processor: Pick<RunningProcessor, 'inputs' | 'outputs'>,
  server: ServedLogs['server'],
  upstream: string,
): RoleReport {
  const logs = logsReport({ logs: processor.outputs, server });
  return {
    health: () => ({
      upstream,
      inputs: Object.fromEntries(
        processor.inputs.map((s) => [s.name, { ops: s.ops, phase: s.snapshotDone ? 'live' : 'catching up' }]),
      ),
      ...logs.health(),
    }),
    metrics: () => [
      {
        name: 'dozer_input_ops_total',
        help: 'Operations read from an input log since the role started',
        type: 'counter',
        samples: processor.inputs.map((s) => ({ labels: { input: s.name }, value: s.ops })),
      },
      {
        name: 'dozer_input_live',
        help: "1 once the role caught up with an input log's end as it was when it connected, else 0",
        type: 'gauge',
        samples: processor.inputs.map((s) => ({ labels: { input: s.name }, value: s.snapshotDone ? 1 : 0 })),
      },
      ...logs.metrics(),
    ],
  };
}
