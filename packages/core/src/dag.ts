import { DozerError, type DozerErrorOptions, ErrorCode } from './errors.js';

/** One port of one node: where an edge starts (an output port) or ends (an input port). */
export interface PortRef {
  readonly node: string;
  readonly port: string;
}

/** A node of a {@link Dag}: an operator, source or sink, with named ports and a payload of type `P`. */
export interface DagNode<P> {
  readonly id: string;
  /** What the node does (`source`, `filter`, `hash-join`, `sink`…), for display and dispatch. */
  readonly kind: string;
  /** Input port names, in declaration order. */
  readonly inputs: readonly string[];
  /** Output port names, in declaration order. */
  readonly outputs: readonly string[];
  readonly payload: P;
}

/** What {@link Dag.addNode} takes; omitted port lists mean no ports. */
export interface DagNodeSpec<P> {
  readonly id: string;
  readonly kind: string;
  readonly inputs?: readonly string[];
  readonly outputs?: readonly string[];
  readonly payload: P;
}

/** An edge from an output port to an input port. */
export interface DagEdge {
  readonly from: PortRef;
  readonly to: PortRef;
}

/**
 * A directed acyclic graph of nodes with named ports, built incrementally.
 * Every mutation checks its own preconditions, so the graph is acyclic and
 * every edge joins existing ports at all times; {@link Dag.validate} adds the
 * check that every input port is connected, for a graph about to run.
 *
 * An output port may feed any number of input ports; an input port takes at
 * most one edge (a node that merges streams declares one port per stream).
 */
export interface Dag<P> {
  /** Adds a node. Throws {@link DagError} on a duplicate id or duplicate port names. */
  addNode(spec: DagNodeSpec<P>): DagNode<P>;
  /**
   * Connects an output port to an input port. A bare node id stands for the
   * node's only output (for `from`) or only input (for `to`) port. Throws
   * {@link DagError} for an unknown node or port, an input port that is
   * already connected, or an edge that would close a cycle (naming the
   * nodes on it).
   */
  connect(from: PortRef | string, to: PortRef | string): DagEdge;
  /** True when a node has this id. */
  has(id: string): boolean;
  /** The node with this id; throws {@link DagError} when there is none. */
  node(id: string): DagNode<P>;
  /** All nodes, in the order they were added. */
  nodes(): readonly DagNode<P>[];
  /** All edges, in the order they were connected. */
  edges(): readonly DagEdge[];
  /** Edges into a node, in the order of its input ports. */
  incoming(id: string): readonly DagEdge[];
  /** Edges out of a node, in the order of its output ports, then of connection. */
  outgoing(id: string): readonly DagEdge[];
  /** Nodes with no incoming edges, in the order they were added. */
  sources(): readonly DagNode<P>[];
  /** Nodes with no outgoing edges, in the order they were added. */
  sinks(): readonly DagNode<P>[];
  /**
   * Every node after all the nodes that feed it. Among nodes whose inputs are
   * all placed, earlier-added nodes come first, so the order is deterministic.
   */
  topologicalOrder(): readonly DagNode<P>[];
  /** Throws {@link DagError} listing every input port that has no edge. */
  validate(): void;
  /**
   * A readable rendering, one block per node in topological order: the id,
   * kind and (when `describe` returns one) a description of the payload, then
   * each input port with where it comes from and each output port with where
   * it goes.
   */
  toText(describe?: (node: DagNode<P>) => string | undefined): string;
}

/**
 * A DAG was built wrongly: an unknown node or port, a doubly connected
 * input, a cycle, or a missing input. These come from planners, not users,
 * so the code is `INTERNAL`; a planner that can blame user input (a cycle
 * between SQL statements) should catch it and say so in its own terms.
 */
export class DagError extends DozerError {
  override name = 'DagError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

interface NodeState<P> {
  readonly node: DagNode<P>;
  readonly index: number;
  /** By input port name. */
  readonly in: Map<string, DagEdge>;
  readonly out: DagEdge[];
}

/** A new, empty {@link Dag} whose node payloads have type `P`. */
export function createDag<P = unknown>(): Dag<P> {
  const states = new Map<string, NodeState<P>>();
  const order: DagNode<P>[] = [];
  const edges: DagEdge[] = [];

  const stateOf = (id: string, role: string): NodeState<P> => {
    const s = states.get(id);
    if (s === undefined) {
      const known =
        order.length === 0 ? 'the DAG has no nodes' : `known nodes: ${order.map((n) => n.id).join(', ')}`;
      throw new DagError(`${role}: no node "${id}" (${known})`);
    }
    return s;
  };

  const resolvePort = (ref: PortRef | string, dir: 'output' | 'input', role: string): PortRef => {
    const id = typeof ref === 'string' ? ref : ref.node;
    const node = stateOf(id, role).node;
    const ports = dir === 'output' ? node.outputs : node.inputs;
    if (typeof ref === 'string') {
      if (ports.length !== 1) {
        throw new DagError(
          `${role}: node "${id}" has ${ports.length} ${dir} ports (${ports.join(', ') || 'none'}), ` +
            `so name the port: { node: "${id}", port: … }`,
        );
      }
      return { node: id, port: ports[0]! };
    }
    if (!ports.includes(ref.port)) {
      throw new DagError(
        `${role}: node "${id}" (${node.kind}) has no ${dir} port "${ref.port}"; ` +
          `its ${dir} ports are: ${ports.join(', ') || 'none'}`,
      );
    }
    return { node: id, port: ref.port };
  };

  /** A path of node ids from `start` to `goal` along edges, or undefined. */
  const findPath = (start: string, goal: string): string[] | undefined => {
    const prev = new Map<string, string>();
    const seen = new Set<string>([start]);
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!;
      if (id === goal) {
        const path = [id];
        for (let p = prev.get(id); p !== undefined; p = prev.get(p)) path.push(p);
        return path.reverse();
      }
      for (const e of states.get(id)!.out) {
        if (!seen.has(e.to.node)) {
          seen.add(e.to.node);
          prev.set(e.to.node, id);
          queue.push(e.to.node);
        }
      }
    }
    return undefined;
  };

  const dag: Dag<P> = {
    addNode(spec) {
      if (typeof spec.id !== 'string' || spec.id === '')
        throw new DagError('addNode: a node id must be a non-empty string');
      if (states.has(spec.id)) {
        const other = states.get(spec.id)!.node;
        throw new DagError(
          `addNode: a node "${spec.id}" already exists (kind ${other.kind}); node ids must be unique`,
        );
      }
      const inputs = [...(spec.inputs ?? [])];
      const outputs = [...(spec.outputs ?? [])];
      for (const [dir, ports] of [
        ['input', inputs],
        ['output', outputs],
      ] as const) {
        const dup = ports.find((p, i) => ports.indexOf(p) !== i);
        if (dup !== undefined)
          throw new DagError(`addNode: node "${spec.id}" declares ${dir} port "${dup}" twice`);
      }
      const node: DagNode<P> = Object.freeze({
        id: spec.id,
        kind: spec.kind,
        inputs,
        outputs,
        payload: spec.payload,
      });
      states.set(spec.id, { node, index: order.length, in: new Map(), out: [] });
      order.push(node);
      return node;
    },

    connect(fromRef, toRef) {
      const from = resolvePort(fromRef, 'output', 'connect (from)');
      const to = resolvePort(toRef, 'input', 'connect (to)');
      const target = states.get(to.node)!;
      const existing = target.in.get(to.port);
      if (existing !== undefined) {
        throw new DagError(
          `connect: input port ${to.node}.${to.port} is already fed by ${existing.from.node}.${existing.from.port}, ` +
            `so it cannot also take ${from.node}.${from.port}; an input port takes one edge`,
        );
      }
      const back = findPath(to.node, from.node);
      if (back !== undefined) {
        throw new DagError(
          `connect: ${from.node}.${from.port} -> ${to.node}.${to.port} would close a cycle: ` +
            `${[from.node, ...back].join(' -> ')}`,
        );
      }
      const edge: DagEdge = Object.freeze({ from: Object.freeze(from), to: Object.freeze(to) });
      target.in.set(to.port, edge);
      states.get(from.node)!.out.push(edge);
      edges.push(edge);
      return edge;
    },

    has: (id) => states.has(id),
    node: (id) => stateOf(id, 'node').node,
    nodes: () => [...order],
    edges: () => [...edges],

    incoming(id) {
      const s = stateOf(id, 'incoming');
      return s.node.inputs.flatMap((p) => {
        const e = s.in.get(p);
        return e === undefined ? [] : [e];
      });
    },

    outgoing(id) {
      const s = stateOf(id, 'outgoing');
      return s.node.outputs.flatMap((p) => s.out.filter((e) => e.from.port === p));
    },

    sources: () => order.filter((n) => states.get(n.id)!.in.size === 0),
    sinks: () => order.filter((n) => states.get(n.id)!.out.length === 0),

    topologicalOrder() {
      const pending = new Map<string, number>();
      // Ready nodes by insertion index, kept sorted ascending.
      const ready: NodeState<P>[] = [];
      const pushReady = (s: NodeState<P>) => {
        let lo = 0;
        let hi = ready.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ready[mid]!.index < s.index) lo = mid + 1;
          else hi = mid;
        }
        ready.splice(lo, 0, s);
      };
      for (const n of order) {
        const s = states.get(n.id)!;
        pending.set(n.id, s.in.size);
        if (s.in.size === 0) pushReady(s);
      }
      const out: DagNode<P>[] = [];
      while (ready.length > 0) {
        const s = ready.shift()!;
        out.push(s.node);
        for (const e of s.out) {
          const left = pending.get(e.to.node)! - 1;
          pending.set(e.to.node, left);
          if (left === 0) pushReady(states.get(e.to.node)!);
        }
      }
      // connect() refuses cycles, so every node is placed.
      return out;
    },

    validate() {
      const missing: string[] = [];
      for (const n of order) {
        const s = states.get(n.id)!;
        for (const p of n.inputs) if (!s.in.has(p)) missing.push(`${n.id}.${p} (${n.kind})`);
      }
      if (missing.length > 0) {
        throw new DagError(
          `the DAG has ${missing.length} unconnected input port${missing.length === 1 ? '' : 's'}: ${missing.join(', ')}; ` +
            'connect each input port to an output port',
        );
      }
    },

    toText(describe) {
      const lines: string[] = [];
      const nodeCount = order.length;
      lines.push(
        `DAG: ${nodeCount} node${nodeCount === 1 ? '' : 's'}, ${edges.length} edge${edges.length === 1 ? '' : 's'}`,
      );
      for (const n of dag.topologicalOrder()) {
        const s = states.get(n.id)!;
        const desc = describe?.(n);
        lines.push(`${n.id} (${n.kind})${desc ? `: ${desc}` : ''}`);
        const width = Math.max(0, ...n.inputs.map((p) => p.length), ...n.outputs.map((p) => p.length));
        for (const p of n.inputs) {
          const e = s.in.get(p);
          lines.push(
            `  ${p.padEnd(width)} <- ${e === undefined ? '(not connected)' : `${e.from.node}.${e.from.port}`}`,
          );
        }
        for (const p of n.outputs) {
          const targets = s.out.filter((e) => e.from.port === p).map((e) => `${e.to.node}.${e.to.port}`);
          lines.push(`  ${p.padEnd(width)} -> ${targets.length === 0 ? '(not used)' : targets.join(', ')}`);
        }
      }
      return lines.join('\n');
    },
  };
  return dag;
}
