import { ConfigError } from '@dozer/core';
import { keepSqlStatements, type SqlStatement, splitSqlStatements } from '@dozer/sql';
import type { DozerConfig, IngestorNodeConfig, ProcessorNodeConfig, ServerAddress } from '../config/index.js';
import { QUEUE_PREFIX } from './object-store.js';

// Who runs what when `nodes` lists several ingestors and processors (the
// config's list form), and who reads what from whom. The one-node form is
// the same with one node of each kind owning everything, except that its
// processor also forwards the sources an endpoint serves (as it always did),
// while with the lists the API role reads those straight from their ingestor.

export type NodeKind = 'ingestor' | 'processor';

/** The command that runs a node: `ingest`, or `ingest --node a` in the list form. */
export function commandOf(config: DozerConfig, kind: NodeKind, name: string): string {
  const verb = kind === 'ingestor' ? 'ingest' : 'process';
  return config.nodes.listed ? `${verb} --node ${name}` : verb;
}

/** `nodes.ingestor`, or `nodes.ingestors[1] (b)`: names a node's entry in messages. */
export function keyOf(config: DozerConfig, kind: NodeKind, name: string): string {
  if (!config.nodes.listed) return `nodes.${kind}`;
  const list: readonly { name: string }[] =
    kind === 'ingestor' ? config.nodes.ingestors : config.nodes.processors;
  return `nodes.${kind}s[${list.findIndex((n) => n.name === name)}] (${name})`;
}

/** Key prefix of a node's queue in the object store: `ingest`, or `ingest/<name>` in the list form. */
export function queuePrefixOf(config: DozerConfig, kind: NodeKind, name: string): string {
  const prefix = kind === 'ingestor' ? QUEUE_PREFIX.ingest : QUEUE_PREFIX.process;
  return config.nodes.listed ? `${prefix}/${name}` : prefix;
}

/**
 * The node this process runs: the one `--node` names, else the only one of
 * its kind. Several and no `--node`, or an unknown name, is a ConfigError
 * listing the names.
 */
export function selectNode<T extends { readonly name: string }>(
  nodes: readonly T[],
  kind: NodeKind,
  wanted: string | undefined,
): T {
  const names = nodes.map((n) => n.name).join(', ');
  const verb = kind === 'ingestor' ? 'ingest' : 'process';
  if (wanted !== undefined) {
    const found = nodes.find((n) => n.name === wanted);
    if (found) return found;
    throw new ConfigError(
      `--node ${wanted}: dozer.yaml has no ${kind} of that name (${kind}s: ${names || 'none'}); pass one of those`,
    );
  }
  if (nodes.length === 1) return nodes[0]!;
  if (nodes.length === 0) {
    throw new ConfigError(
      `dozer.yaml lists no ${kind}s under nodes.${kind}s, so "dozer ${verb}" has nothing to run`,
    );
  }
  throw new ConfigError(
    `nodes.${kind}s lists ${nodes.length} ${kind}s (${names}): pass --node <name> to say which one "dozer ${verb}" runs here`,
  );
}

/** A log a role needs, the node that owns it, and the config entry that needs it. */
interface Wanted {
  readonly owner: IngestorNodeConfig | ProcessorNodeConfig;
  readonly kind: NodeKind;
  readonly table: string;
  readonly who: string;
}

/** An upstream node a role reads from, and the logs it needs there. */
export interface UpstreamNeed {
  readonly kind: NodeKind;
  readonly address: ServerAddress;
  /** Set in the list form: the node's name and the command that runs it. */
  readonly node?: { readonly name: string; readonly command: string };
  /** The command that serves these logs, named when one is missing. */
  readonly command: string;
  /** Each log and the config entry that needs it. */
  readonly needs: ReadonlyArray<{ readonly table: string; readonly who: string }>;
}

function groupNeeds(config: DozerConfig, wanted: readonly Wanted[]): UpstreamNeed[] {
  const byOwner = new Map<
    string,
    { kind: NodeKind; owner: ServerAddress & { name: string }; needs: { table: string; who: string }[] }
  >();
  for (const w of wanted) {
    const key = `${w.kind}:${w.owner.name}`;
    const group = byOwner.get(key) ?? {
      kind: w.kind,
      owner: w.owner,
      needs: [] as { table: string; who: string }[],
    };
    byOwner.set(key, group);
    if (!group.needs.some((n) => n.table === w.table)) group.needs.push({ table: w.table, who: w.who });
  }
  return [...byOwner.values()].map(({ kind, owner, needs }) => {
    const command = commandOf(config, kind, owner.name);
    return {
      kind,
      address: { host: owner.host, port: owner.port },
      ...(config.nodes.listed ? { node: { name: owner.name, command } } : {}),
      command,
      needs,
    };
  });
}

const lower = (s: string) => s.toLowerCase();

/** The statements of the SQL with the processor that owns each (by its INTO table). */
function statementsByOwner(
  config: DozerConfig,
): Array<{ statement: SqlStatement; owner: ProcessorNodeConfig | undefined }> {
  const sql = config.sql?.trim() ? config.sql : undefined;
  if (sql === undefined) return [];
  return splitSqlStatements(sql).map((statement) => ({
    statement,
    owner: config.nodes.processors.find((p) => p.tables.some((t) => lower(t) === lower(statement.into))),
  }));
}

/** What one processor node runs. */
export interface ProcessorShare {
  /** The SQL text with only its statements (the others blanked, positions kept). */
  readonly sql: string | undefined;
  /** The logs it reads; `undefined` in the one-node form (every source). */
  readonly inputs: readonly string[] | undefined;
  /** The logs it writes; `undefined` in the one-node form (every endpoint table). */
  readonly outputs: readonly string[] | undefined;
  readonly upstreams: readonly UpstreamNeed[];
}

/**
 * A processor's share: the statements whose INTO table it owns; as inputs
 * the tables they read that it does not compute itself (sources, from the
 * ingestor that owns each; INTO tables of other processors, from those); as
 * outputs the INTO tables it owns that an endpoint serves or another
 * processor reads.
 */
export function processorShare(config: DozerConfig, node: ProcessorNodeConfig): ProcessorShare {
  if (!config.nodes.listed) {
    const ingestor = config.nodes.ingestors[0]!;
    return {
      sql: config.sql,
      inputs: undefined,
      outputs: undefined,
      upstreams: groupNeeds(
        config,
        config.sources.map((s, i) => ({
          owner: ingestor,
          kind: 'ingestor',
          table: s.name,
          who: `sources[${i}] (${s.name})`,
        })),
      ),
    };
  }
  const all = statementsByOwner(config);
  const mine = all.filter((s) => s.owner === node).map((s) => s.statement);
  const computed = new Set(mine.map((s) => lower(s.into)));
  const who = keyOf(config, 'processor', node.name);
  const wanted: Wanted[] = [];
  for (const s of mine) {
    for (const read of s.reads) {
      if (computed.has(lower(read))) continue;
      const source =
        config.sources.find((x) => x.name === read) ??
        config.sources.find((x) => lower(x.name) === lower(read));
      const ingestor = source && config.nodes.ingestors.find((n) => n.sources.includes(source.name));
      if (source && ingestor) {
        wanted.push({ owner: ingestor, kind: 'ingestor', table: source.name, who: `${who}, for ${s.into}` });
        continue;
      }
      const producer = all.find((x) => lower(x.statement.into) === lower(read));
      if (producer?.owner) {
        wanted.push({
          owner: producer.owner,
          kind: 'processor',
          table: producer.statement.into,
          who: `${who}, for ${s.into}`,
        });
      }
      // Anything else is an unknown table: compiling the statements reports it with its position.
    }
  }
  const servedOrRead = (table: string) =>
    config.endpoints.some((e) => lower(e.table_name) === lower(table)) ||
    all.some((x) => x.owner !== node && x.statement.reads.some((r) => lower(r) === lower(table)));
  return {
    sql:
      config.sql === undefined
        ? undefined
        : keepSqlStatements(config.sql, (s) => mine.some((m) => m.index === s.index)),
    inputs: [...new Set(wanted.map((w) => w.table))],
    outputs: mine.map((s) => s.into).filter(servedOrRead),
    upstreams: groupNeeds(config, wanted),
  };
}

/**
 * Where the API role reads each endpoint table: from the processor in the
 * one-node form; in the list form an INTO table from the processor that
 * owns it and a source from the ingestor that owns it.
 */
export function serveUpstreams(config: DozerConfig): UpstreamNeed[] {
  const all = config.nodes.listed ? statementsByOwner(config) : [];
  return groupNeeds(
    config,
    config.endpoints.flatMap((e, i): Wanted[] => {
      const who = `endpoints[${i}] (${e.name})`;
      if (!config.nodes.listed)
        return [{ owner: config.nodes.processors[0]!, kind: 'processor' as const, table: e.table_name, who }];
      const ingestor = config.nodes.ingestors.find((n) => n.sources.includes(e.table_name));
      if (ingestor) return [{ owner: ingestor, kind: 'ingestor' as const, table: e.table_name, who }];
      const producer = all.find((x) => lower(x.statement.into) === lower(e.table_name))?.owner;
      return producer ? [{ owner: producer, kind: 'processor' as const, table: e.table_name, who }] : [];
    }),
  );
}
