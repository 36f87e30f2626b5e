/** One sample of a metric: its labels and value. */
export interface MetricSample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family in the Prometheus text exposition format (a counter or a gauge). */
export interface MetricFamily {
  /** `dozer_…`: letters, digits and `_`. */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly MetricSample[];
}

/** The content type of {@link formatMetrics}' text. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
const escapeHelp = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function formatLabels(
  labels: Readonly<Record<string, string>> | undefined,
  extra?: [string, string],
): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) parts.push(`${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Metric families as Prometheus text (format 0.0.4). */
export function formatMetrics(families: readonly MetricFamily[]): string {
  let out = '';
  for (const f of families) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += `${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}\n`;
  }
  return out;
}

/** Upper bounds (seconds) of the request duration histogram's buckets. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface RouteStats {
  /** Requests by status code. */
  readonly byStatus: Map<number, number>;
  /** Cumulative counts per bucket of {@link BUCKETS}, then +Inf. */
  readonly buckets: number[];
  sum: number;
  count: number;
}

/**
 * Counts the HTTP requests a server answered, by endpoint (the first
 * endpoint path the URL starts with; `other` for /health, /docs, unknown
 * paths) and status, with a histogram of their durations (from the
 * request's arrival to the last byte of the answer handed to the socket).
 */
export class HttpMetrics {
  private readonly routes = new Map<string, RouteStats>();
  /** Endpoint paths, longest first, with their names. */
  private readonly paths: readonly { readonly prefix: string; readonly name: string }[];

  constructor(endpoints: readonly { readonly name: string; readonly path: string }[]) {
    this.paths = endpoints
      .map((e) => ({ prefix: e.path === '/' ? '/' : e.path.replace(/\/+$/, ''), name: e.name }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The endpoint a request path belongs to, or `other`. */
  endpointOf(path: string): string {
    for (const p of this.paths) {
      if (p.prefix === '/') return p.name;
      if (path.startsWith(p.prefix) && (path.length === p.prefix.length || path[p.prefix.length] === '/')) {
        return p.name;
      }
    }
    return 'other';
  }

  observe(path: string, status: number, seconds: number): void {
    const endpoint = this.endpointOf(path);
    let r = this.routes.get(endpoint);
    if (r === undefined) {
      r = { byStatus: new Map(), buckets: new Array(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.routes.set(endpoint, r);
    }
    r.byStatus.set(status, (r.byStatus.get(status) ?? 0) + 1);
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    r.buckets[i]!++;
    r.sum += seconds;
    r.count++;
  }

  /** The request counter and the duration histogram as Prometheus text. */
  format(): string {
    const requests: MetricSample[] = [];
    for (const [endpoint, r] of this.routes) {
      for (const [status, n] of r.byStatus)
        requests.push({ labels: { endpoint, status: String(status) }, value: n });
    }
    let out = formatMetrics([
      {
        name: 'dozer_http_requests_total',
        help: 'HTTP requests answered, by endpoint and status code',
        type: 'counter',
        samples: requests,
      },
    ]);
    const name = 'dozer_http_request_duration_seconds';
    out += `# HELP ${name} Time from a request's arrival to its answer's last byte\n# TYPE ${name} histogram\n`;
    for (const [endpoint, r] of this.routes) {
      let cumulative = 0;
      for (let i = 0; i <= BUCKETS.length; i++) {
        cumulative += r.buckets[i]!;
        const le = i < BUCKETS.length ? String(BUCKETS[i]) : '+Inf';
        out += `${name}_bucket${formatLabels({ endpoint }, ['le', le])} ${cumulative}\n`;
      }
      out += `${name}_sum${formatLabels({ endpoint })} ${r.sum}\n`;
      out += `${name}_count${formatLabels({ endpoint })} ${r.count}\n`;
    }
    return out;
  }
}
