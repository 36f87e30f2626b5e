import { type SqlStatement, splitSqlStatements } from '@dozer/sql';
import { DEFAULT_NODE_ADDRESSES } from './defaults.js';
import { type ConfigIssue, type ConfigPath, didYouMean, formatPath } from './issues.js';
import type { RawConfig } from './schema.js';
import type { IngestorNodeConfig, NodesConfig, ProcessorNodeConfig } from './types.js';
import type { YamlLocator } from './yaml-locator.js';
import { isPlainObject, valueAt } from './zod-issues.js';

// `nodes` comes in two forms. The one-node form, `nodes.ingestor` and
// `nodes.processor`, is one ingestor owning every source and one processor
// owning every INTO table. The list form, `nodes.ingestors` and
// `nodes.processors`, names several nodes, each owning some sources or some
// INTO tables. Both load into the same lists (the one-node form as lists of
// one, named `ingestor` and `processor`), so the roles read one shape.

/** The node-list part of {@link NodesConfig}. */
export type NodeLists = Pick<NodesConfig, 'ingestors' | 'processors' | 'listed'>;

const LISTS = ['ingestors', 'processors'] as const;
type ListKey = (typeof LISTS)[number];
const OWNED: Record<ListKey, 'sources' | 'tables'> = { ingestors: 'sources', processors: 'tables' };

/** Whether `nodes` is written in the list form. */
function listed(raw: unknown): boolean {
  return LISTS.some((k) => valueAt(raw, ['nodes', k]) !== undefined);
}

/** Paths of the list form's nodes (for the listener checks), or `undefined` in the one-node form. */
export function listedNodePaths(raw: unknown): ConfigPath[] | undefined {
  if (!listed(raw)) return undefined;
  return LISTS.flatMap((k) => {
    const list = valueAt(raw, ['nodes', k]);
    return Array.isArray(list) ? list.map((_, i) => ['nodes', k, i]) : [];
  });
}

/** `nodes.ingestors[i].port`, `.http_port` and the processors': numbers a `${VAR}` may give, like NUMERIC_PATHS. */
export function listedNodePortPaths(raw: unknown): ConfigPath[] {
  return (listedNodePaths(raw) ?? []).flatMap((p) => [
    [...p, 'port'],
    [...p, 'http_port'],
  ]);
}

const httpPort = (n: { http_port?: number | undefined } | undefined): { http_port?: number } =>
  n?.http_port === undefined ? {} : { http_port: n.http_port };

/** `name` as written when it names one of `names` ignoring case (SQL folds unquoted names). */
function sameName(name: string, names: readonly string[]): string | undefined {
  if (names.includes(name)) return name;
  const matches = names.filter((n) => n.toLowerCase() === name.toLowerCase());
  return matches.length === 1 ? matches[0] : undefined;
}

const list = (names: readonly string[]): string => (names.length === 0 ? 'none' : names.join(', '));

/**
 * The list form's checks: no mix with the one-node form, unique node names,
 * every source owned by exactly one ingestor and every INTO table (of
 * `sqlOutputs`) by exactly one processor.
 */
export function nodeListIssues(
  raw: unknown,
  locator: YamlLocator,
  sourceNames: readonly string[],
  sqlOutputs: readonly string[],
): ConfigIssue[] {
  if (!listed(raw)) return [];
  const issues: ConfigIssue[] = [];
  for (const single of ['ingestor', 'processor'] as const) {
    if (valueAt(raw, ['nodes', single]) === undefined) continue;
    issues.push(
      locator.issueAt(
        ['nodes', single],
        `nodes.${single}: the one-node form (nodes.ingestor, nodes.processor) and the lists (nodes.ingestors, nodes.processors) do not mix; ` +
          `make this node an entry of nodes.${single}s, with a name and what it owns`,
      ),
    );
  }

  const names = new Map<string, ConfigPath>();
  for (const key of LISTS) {
    const entries = valueAt(raw, ['nodes', key]);
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry, i) => {
      if (!isPlainObject(entry) || typeof entry.name !== 'string') return;
      const at: ConfigPath = ['nodes', key, i, 'name'];
      const first = names.get(entry.name);
      if (first === undefined) {
        names.set(entry.name, at);
        return;
      }
      issues.push(
        locator.issueAt(
          at,
          `${formatPath(at)}: duplicate node name ${JSON.stringify(entry.name)}, already used by ${formatPath(first.slice(0, -1))} ` +
            `on line ${locator.positionOf(first).line}; each node needs its own name (the --node of its command)`,
        ),
      );
    });
  }

  const ownership = (key: ListKey, known: readonly string[], what: string, knownWhat: string) => {
    const field = OWNED[key];
    const owner = new Map<string, { path: ConfigPath; name: string }>();
    const entries = valueAt(raw, ['nodes', key]);
    const nodeNames: string[] = [];
    if (Array.isArray(entries)) {
      entries.forEach((entry, i) => {
        if (!isPlainObject(entry)) return;
        const nodeName = typeof entry.name === 'string' ? entry.name : `#${i}`;
        if (!nodeNames.includes(nodeName)) nodeNames.push(nodeName);
        const owned = entry[field];
        if (!Array.isArray(owned)) return;
        owned.forEach((item, j) => {
          if (typeof item !== 'string') return;
          const at: ConfigPath = ['nodes', key, i, field, j];
          const canonical = sameName(item, known);
          if (canonical === undefined) {
            issues.push(
              locator.issueAt(
                at,
                `${formatPath(at)}: unknown ${what} ${JSON.stringify(item)}${didYouMean(item, known)} (${knownWhat}: ${list(known)})`,
              ),
            );
            return;
          }
          const first = owner.get(canonical);
          if (first === undefined) {
            owner.set(canonical, { path: at, name: nodeName });
            return;
          }
          issues.push(
            locator.issueAt(
              at,
              `${formatPath(at)}: ${what} ${JSON.stringify(canonical)} is already owned by ${formatPath(first.path.slice(0, 3))} ` +
                `(${first.name}) on line ${locator.positionOf(first.path).line}; each ${what} belongs to exactly one of nodes.${key}`,
            ),
          );
        });
      });
    }
    const unowned = known.filter((k) => !owner.has(k));
    if (unowned.length > 0) {
      const at: ConfigPath = Array.isArray(entries) ? ['nodes', key] : ['nodes'];
      issues.push(
        locator.issueAt(
          at,
          `nodes.${key}: no node owns the ${what}${unowned.length === 1 ? '' : 's'} ${unowned.map((u) => JSON.stringify(u)).join(', ')}; ` +
            (nodeNames.length === 0
              ? `add nodes.${key}, e.g. [{ name: ${key.slice(0, -1)}-1, port: 50060, ${field}: [${unowned.join(', ')}] }]`
              : `add ${unowned.length === 1 ? 'it' : 'each'} to the ${field} of one of them (${list(nodeNames)})`),
        ),
      );
    }
  };
  ownership('ingestors', sourceNames, 'source', 'sources');
  ownership('processors', sqlOutputs, 'INTO table', 'SQL outputs');
  issues.push(...processorCycleIssues(raw, locator));
  return issues;
}

/**
 * Processors that read each other's tables, directly or around a longer
 * cycle: each connects to the next before it serves its own logs, so they
 * would all wait forever. (Statements that read each other inside one
 * processor are fine; the SQL compiler rejects true cycles between statements.)
 */
function processorCycleIssues(raw: unknown, locator: YamlLocator): ConfigIssue[] {
  const sql = valueAt(raw, ['sql']);
  const entries = valueAt(raw, ['nodes', 'processors']);
  if (typeof sql !== 'string' || !Array.isArray(entries)) return [];
  let statements: SqlStatement[];
  try {
    statements = splitSqlStatements(sql);
  } catch {
    return []; // compiling the SQL reports it
  }
  const ownerOf = new Map<string, number>();
  entries.forEach((entry, i) => {
    const tables = isPlainObject(entry) ? entry.tables : undefined;
    if (!Array.isArray(tables)) return;
    for (const t of tables)
      if (typeof t === 'string' && !ownerOf.has(t.toLowerCase())) ownerOf.set(t.toLowerCase(), i);
  });
  // reads[p] = the processors whose tables p reads, with one table as the example.
  const reads = new Map<number, Map<number, string>>();
  for (const st of statements) {
    const p = ownerOf.get(st.into.toLowerCase());
    if (p === undefined) continue;
    for (const r of st.reads) {
      const q = ownerOf.get(r.toLowerCase());
      if (q === undefined || q === p) continue;
      const edges = reads.get(p) ?? new Map<number, string>();
      reads.set(p, edges);
      if (!edges.has(q)) edges.set(q, r);
    }
  }
  const nameOf = (i: number): string => {
    const e = entries[i];
    return isPlainObject(e) && typeof e.name === 'string' ? e.name : `#${i}`;
  };
  // Depth-first search for a cycle; the first one found is reported.
  const state = new Map<number, 'open' | 'done'>();
  const path: number[] = [];
  const visit = (p: number): number[] | undefined => {
    state.set(p, 'open');
    path.push(p);
    for (const q of reads.get(p)?.keys() ?? []) {
      if (state.get(q) === 'open') return [...path.slice(path.indexOf(q)), q];
      if (state.get(q) === undefined) {
        const found = visit(q);
        if (found) return found;
      }
    }
    path.pop();
    state.set(p, 'done');
    return undefined;
  };
  for (const p of [...reads.keys()].sort((x, y) => x - y)) {
    if (state.get(p) !== undefined) continue;
    const cycle = visit(p);
    if (!cycle) continue;
    const steps = cycle
      .slice(0, -1)
      .map(
        (from, k) =>
          `${nameOf(from)} reads ${reads.get(from)!.get(cycle[k + 1]!)} from ${nameOf(cycle[k + 1]!)}`,
      );
    const at: ConfigPath = ['nodes', 'processors', cycle[0]!, 'tables'];
    return [
      locator.issueAt(
        at,
        `${formatPath(at)}: the processors ${cycle
          .slice(0, -1)
          .map(nameOf)
          .join(', ')} read each other's tables in a cycle (${steps.join('; ')}); ` +
          'each would wait for the next to start: give the statements of that cycle to one processor',
      ),
    ];
  }
  return [];
}

/**
 * The node lists of a config that passed the checks: as written in the list
 * form (INTO table names as the SQL writes them), else one ingestor owning
 * every source and one processor owning every INTO table.
 */
export function nodeListsWithDefaults(raw: RawConfig, sqlOutputs: readonly string[]): NodeLists {
  const nodes = raw.nodes ?? {};
  const sources = (raw.sources ?? []).map((s) => s.name);
  if (nodes.ingestors === undefined && nodes.processors === undefined) {
    return {
      listed: false,
      ingestors: [
        {
          name: 'ingestor',
          host: nodes.ingestor?.host ?? DEFAULT_NODE_ADDRESSES.ingestor.host,
          port: nodes.ingestor?.port ?? DEFAULT_NODE_ADDRESSES.ingestor.port,
          ...httpPort(nodes.ingestor),
          sources,
        },
      ],
      processors: [
        {
          name: 'processor',
          host: nodes.processor?.host ?? DEFAULT_NODE_ADDRESSES.processor.host,
          port: nodes.processor?.port ?? DEFAULT_NODE_ADDRESSES.processor.port,
          ...httpPort(nodes.processor),
          tables: [...sqlOutputs],
        },
      ],
    };
  }
  return {
    listed: true,
    ingestors: (nodes.ingestors ?? []).map(
      (n): IngestorNodeConfig => ({
        name: n.name,
        host: n.host ?? DEFAULT_NODE_ADDRESSES.ingestor.host,
        port: n.port,
        ...httpPort(n),
        sources: n.sources.map((s) => sameName(s, sources) ?? s),
      }),
    ),
    processors: (nodes.processors ?? []).map(
      (n): ProcessorNodeConfig => ({
        name: n.name,
        host: n.host ?? DEFAULT_NODE_ADDRESSES.processor.host,
        port: n.port,
        ...httpPort(n),
        tables: n.tables.map((t) => sameName(t, sqlOutputs) ?? t),
      }),
    ),
  };
}
