import { ConfigError } from '../errors.js';
import type { Schema } from '../schema.js';
import type { MicroNodeSpec, MicroRuntimeSpec } from './micro-node.js';

/** The thread number of the caller's side (inputs and outputs). */
export const HOST = -1;

/** An edge with everything a thread needs to route and encode what crosses it. */
export interface PlannedEdge {
  readonly id: number;
  /** Source node, or null for a runtime input. */
  readonly fromNode: string | null;
  /** Source port, or the input's name. */
  readonly fromPort: string;
  /** Target node, or null for a runtime output. */
  readonly toNode: string | null;
  /** Target port, or the output's name. */
  readonly toPort: string;
  readonly schema: Schema;
  readonly fromThread: number;
  readonly toThread: number;
}

export interface PlannedNode {
  readonly spec: MicroNodeSpec;
  readonly thread: number;
}

/** A validated spec with each node on a thread; structured-cloneable, so workers get it as is. */
export interface RuntimePlan {
  /** Worker threads used (0 = single-thread mode: every node on the caller's thread, numbered 0). */
  readonly threads: number;
  /** In topological order. */
  readonly nodes: readonly PlannedNode[];
  readonly edges: readonly PlannedEdge[];
}

/**
 * Validates `spec` and assigns its nodes to threads. `threads` = 0 is the
 * single-thread mode. Otherwise nodes go to at most `threads` workers so
 * that data only flows from a thread to itself or a later one (so bounded
 * channels cannot deadlock): explicit `thread`s must respect that; without
 * them the nodes, in topological order, are cut into contiguous runs of
 * about equal total `weight`.
 */
export function planRuntime(spec: MicroRuntimeSpec, threads: number): RuntimePlan {
  if (!Number.isInteger(threads) || threads < 0) {
    throw new ConfigError(`threads must be a whole number ≥ 0 (0 = single-thread mode), got ${threads}`);
  }
  const specs = new Map<string, MicroNodeSpec>();
  for (const n of spec.nodes) {
    if (specs.has(n.id)) throw new ConfigError(`micro-node id "${n.id}" is used twice`);
    if (typeof n.module !== 'string' || n.module === '') {
      throw new ConfigError(`micro-node "${n.id}" has no module to create it from`);
    }
    if ((n.inputs ?? []).length === 0) {
      throw new ConfigError(
        `micro-node "${n.id}" has no input port; every node needs one, since epochs (barriers) come through the inputs`,
      );
    }
    specs.set(n.id, n);
  }
  const inputs = new Map(spec.inputs.map((i) => [i.name, i.schema]));
  const outputs = new Set(spec.outputs);
  const outSchema = (node: string, port: string): Schema => {
    const n = specs.get(node);
    if (n === undefined) throw new ConfigError(`edge from unknown micro-node "${node}"`);
    const o = (n.outputs ?? []).find((p) => p.name === port);
    if (o === undefined) {
      throw new ConfigError(
        `edge from "${node}.${port}": micro-node "${node}" has no output port "${port}" (it has: ${(n.outputs ?? []).map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    return o.schema;
  };
  const fed = new Set<string>();
  const raw = spec.edges.map((e) => {
    let schema: Schema;
    let fromNode: string | null = null;
    let fromPort: string;
    if ('input' in e.from) {
      const s = inputs.get(e.from.input);
      if (s === undefined) throw new ConfigError(`edge from unknown input "${e.from.input}"`);
      schema = s;
      fromPort = e.from.input;
    } else {
      schema = outSchema(e.from.node, e.from.port);
      fromNode = e.from.node;
      fromPort = e.from.port;
    }
    let toNode: string | null = null;
    let toPort: string;
    let key: string;
    if ('output' in e.to) {
      if (!outputs.has(e.to.output)) throw new ConfigError(`edge to undeclared output "${e.to.output}"`);
      toPort = e.to.output;
      key = `output ${toPort}`;
    } else {
      const n = specs.get(e.to.node);
      if (n === undefined) throw new ConfigError(`edge to unknown micro-node "${e.to.node}"`);
      if (!(n.inputs ?? []).includes(e.to.port)) {
        throw new ConfigError(
          `edge to "${e.to.node}.${e.to.port}": micro-node "${e.to.node}" has no input port "${e.to.port}" (it has: ${(n.inputs ?? []).join(', ')})`,
        );
      }
      toNode = e.to.node;
      toPort = e.to.port;
      key = `${toNode}.${toPort}`;
    }
    if (fed.has(key)) throw new ConfigError(`${key} has two incoming edges; it takes exactly one`);
    fed.add(key);
    return { fromNode, fromPort, toNode, toPort, schema };
  });
  for (const n of spec.nodes) {
    for (const p of n.inputs ?? []) {
      if (!fed.has(`${n.id}.${p}`)) throw new ConfigError(`input port "${n.id}.${p}" has no incoming edge`);
    }
  }
  for (const o of outputs)
    if (!fed.has(`output ${o}`)) throw new ConfigError(`output "${o}" has no incoming edge`);

  const order = topologicalOrder(spec.nodes, raw);
  const thread = assignThreads(order, raw, threads);
  const threadOf = (node: string | null, host: number): number => (node === null ? host : thread.get(node)!);
  const edges = raw.map((e, id) => ({
    ...e,
    id,
    fromThread: threadOf(e.fromNode, HOST),
    toThread: threadOf(e.toNode, HOST),
  }));
  const used = threads === 0 ? 0 : new Set(thread.values()).size;
  return { threads: used, nodes: order.map((s) => ({ spec: s, thread: thread.get(s.id)! })), edges };
}

function topologicalOrder(
  nodes: readonly MicroNodeSpec[],
  edges: readonly { fromNode: string | null; toNode: string | null }[],
): MicroNodeSpec[] {
  const indegree = new Map(nodes.map((n) => [n.id, 0]));
  const next = new Map<string, string[]>(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (e.fromNode === null || e.toNode === null) continue;
    indegree.set(e.toNode, indegree.get(e.toNode)! + 1);
    next.get(e.fromNode)!.push(e.toNode);
  }
  const ready = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out: MicroNodeSpec[] = [];
  while (ready.length > 0) {
    // Earliest-declared first among ready nodes, so that the order is stable.
    ready.sort((a, b) => nodes.indexOf(byId.get(a)!) - nodes.indexOf(byId.get(b)!));
    const id = ready.shift()!;
    out.push(byId.get(id)!);
    for (const t of next.get(id)!) {
      const d = indegree.get(t)! - 1;
      indegree.set(t, d);
      if (d === 0) ready.push(t);
    }
  }
  if (out.length !== nodes.length) {
    const stuck = nodes.filter((n) => !out.includes(n)).map((n) => n.id);
    throw new ConfigError(`the micro-node graph has a cycle through: ${stuck.join(', ')}`);
  }
  return out;
}

function assignThreads(
  order: readonly MicroNodeSpec[],
  edges: readonly { fromNode: string | null; toNode: string | null }[],
  threads: number,
): Map<string, number> {
  const out = new Map<string, number>();
  if (threads === 0) {
    for (const n of order) out.set(n.id, 0);
    return out;
  }
  const explicit = order.filter((n) => n.thread !== undefined);
  if (explicit.length > 0) {
    if (explicit.length !== order.length) {
      throw new ConfigError(
        `give a thread to every micro-node or to none (${explicit.length} of ${order.length} have one)`,
      );
    }
    for (const n of order) {
      const t = n.thread!;
      if (!Number.isInteger(t) || t < 0 || t >= threads) {
        throw new ConfigError(`micro-node "${n.id}" is assigned thread ${t}, outside 0..${threads - 1}`);
      }
      out.set(n.id, t);
    }
    for (const e of edges) {
      if (e.fromNode === null || e.toNode === null) continue;
      if (out.get(e.fromNode)! > out.get(e.toNode)!) {
        throw new ConfigError(
          `edge "${e.fromNode}" → "${e.toNode}" goes from thread ${out.get(e.fromNode)} back to thread ${out.get(e.toNode)}; data may only flow to the same or a later thread (bounded channels between threads could otherwise deadlock)`,
        );
      }
    }
    return compact(out);
  }
  // Linear partition of the topological order into ≤ threads runs, minimizing the heaviest run.
  const w = order.map((n) => Math.max(0, n.weight ?? 1));
  const n = w.length;
  const k = Math.min(threads, n);
  const prefix = [0];
  for (const x of w) prefix.push(prefix[prefix.length - 1]! + x);
  const sum = (i: number, j: number) => prefix[j]! - prefix[i]!;
  // best[p][j]: minimal heaviest run splitting the first j nodes into p runs; cut[p][j]: start of the last run.
  const best: number[][] = [];
  const cut: number[][] = [];
  for (let p = 1; p <= k; p++) {
    best[p] = [];
    cut[p] = [];
    for (let j = 0; j <= n; j++) {
      if (p === 1) {
        best[p]![j] = sum(0, j);
        cut[p]![j] = 0;
        continue;
      }
      let b = Number.POSITIVE_INFINITY;
      let c = j;
      for (let i = p - 1; i <= j; i++) {
        const v = Math.max(best[p - 1]![i]!, sum(i, j));
        if (v < b - 1e-9) {
          b = v;
          c = i;
        }
      }
      best[p]![j] = b;
      cut[p]![j] = c;
    }
  }
  let j = n;
  for (let p = k; p >= 1; p--) {
    const i = cut[p]![j]!;
    for (let x = i; x < j; x++) out.set(order[x]!.id, p - 1);
    j = i;
  }
  return compact(out);
}

/** Renumbers threads 0.. without gaps, keeping their order. */
function compact(assigned: Map<string, number>): Map<string, number> {
  const used = [...new Set(assigned.values())].sort((a, b) => a - b);
  const to = new Map(used.map((t, i) => [t, i]));
  return new Map([...assigned].map(([id, t]) => [id, to.get(t)!]));
}
