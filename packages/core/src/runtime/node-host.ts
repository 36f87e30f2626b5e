import type { OpBatch, StreamMessage } from '../operation.js';
import type { Schema } from '../schema.js';
import type { MicroNode, MicroNodeContext, MicroNodeFactory } from './micro-node.js';
import type { PlannedEdge, RuntimePlan } from './plan.js';

/** A node threw: which one, and what. */
export class NodeFailure extends Error {
  constructor(
    readonly node: string,
    readonly error: unknown,
  ) {
    super(`micro-node "${node}" failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Where a host sends what leaves its thread. */
export interface HostLinks {
  /** A message for an edge whose target is not a node of this thread (another thread or an output). */
  remote(edge: PlannedEdge, message: StreamMessage): void;
  /** Every node of this thread has passed the barrier of `epoch`. */
  passed(epoch: bigint): void;
}

interface Held {
  readonly port: string;
  readonly message: StreamMessage;
}

interface NodeState {
  readonly id: string;
  node: MicroNode;
  readonly ports: readonly string[];
  /** Barriers seen per input port. */
  readonly seen: Map<string, number>;
  /** Barriers passed (onBarrier called and forwarded). */
  passed: number;
  /** Messages of ports already past the current barrier, in arrival order. */
  held: Held[];
  readonly out: Map<string, PlannedEdge[]>;
}

/**
 * The nodes of one thread: creates them, delivers what arrives for them
 * (aligning barriers across input ports), routes what they emit to nodes
 * of the same thread directly and everything else to `links`. Shared by
 * the worker entry and the single-thread mode.
 */
export class NodeHost {
  private readonly states = new Map<string, NodeState>();
  private readonly passedCount = new Map<number, number>();

  constructor(
    private readonly plan: RuntimePlan,
    readonly thread: number,
    private readonly links: HostLinks,
  ) {}

  /** Imports each node's module and calls its factory, in topological order. */
  async create(): Promise<void> {
    for (const { spec, thread } of this.plan.nodes) {
      if (thread !== this.thread) continue;
      const out = new Map<string, PlannedEdge[]>();
      for (const o of spec.outputs ?? []) out.set(o.name, []);
      const inputs = new Map<string, Schema>();
      for (const e of this.plan.edges) {
        if (e.fromNode === spec.id) out.get(e.fromPort)!.push(e);
        if (e.toNode === spec.id) inputs.set(e.toPort, e.schema);
      }
      const state: NodeState = {
        id: spec.id,
        node: undefined as unknown as MicroNode,
        ports: spec.inputs ?? [],
        seen: new Map((spec.inputs ?? []).map((p) => [p, 0])),
        passed: 0,
        held: [],
        out,
      };
      const context: MicroNodeContext = {
        id: spec.id,
        thread: this.thread,
        inputs,
        outputs: new Map((spec.outputs ?? []).map((o) => [o.name, o.schema])),
        emit: (port, batch) => this.emit(state, port, batch),
      };
      try {
        const mod = (await import(spec.module)) as Record<string, unknown>;
        const name = spec.factory ?? 'createMicroNode';
        const factory = mod[name];
        if (typeof factory !== 'function') {
          throw new Error(`module ${spec.module} exports no function "${name}"`);
        }
        state.node = await (factory as MicroNodeFactory)(spec.args, context);
      } catch (e) {
        throw new NodeFailure(spec.id, e);
      }
      this.states.set(spec.id, state);
    }
  }

  get size(): number {
    return this.states.size;
  }

  /** A message arrived on `edge`, whose target is a node of this thread. */
  deliver(edge: PlannedEdge, message: StreamMessage): void {
    const st = this.states.get(edge.toNode!)!;
    if (this.ahead(st, edge.toPort)) {
      st.held.push({ port: edge.toPort, message });
      return;
    }
    if (this.accept(st, edge.toPort, message)) this.release(st);
  }

  /** Node id → state, of every node that keeps some. */
  snapshot(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const st of this.states.values()) {
      if (st.node.snapshot === undefined) continue;
      out.set(
        st.id,
        this.guard(st, () => st.node.snapshot!()),
      );
    }
    return out;
  }

  restore(states: ReadonlyMap<string, Uint8Array>): void {
    for (const [id, bytes] of states) {
      const st = this.states.get(id);
      if (st === undefined) continue;
      if (st.node.restore === undefined) {
        throw new NodeFailure(id, new Error('a state was given to restore, but the node has no restore()'));
      }
      this.guard(st, () => st.node.restore!(bytes));
    }
  }

  close(): void {
    for (const st of this.states.values()) st.node.close?.();
  }

  private ahead(st: NodeState, port: string): boolean {
    return st.seen.get(port)! > st.passed;
  }

  /** Hands a message to the node; true when it completed a barrier. */
  private accept(st: NodeState, port: string, message: StreamMessage): boolean {
    if (message.kind === 'batch') {
      this.guard(st, () => st.node.onBatch(port, message.batch));
      return false;
    }
    st.seen.set(port, st.seen.get(port)! + 1);
    for (const p of st.ports) if (st.seen.get(p)! <= st.passed) return false;
    this.guard(st, () => st.node.onBarrier?.(message.epoch));
    st.passed++;
    for (const edges of st.out.values()) for (const e of edges) this.route(e, message);
    const n = (this.passedCount.get(st.passed) ?? 0) + 1;
    if (n === this.states.size) {
      this.passedCount.delete(st.passed);
      this.links.passed(message.epoch);
    } else this.passedCount.set(st.passed, n);
    return true;
  }

  /** After a barrier: delivers held messages of ports no longer ahead, keeping each port's order. */
  private release(st: NodeState): void {
    let progressed = true;
    while (progressed && st.held.length > 0) {
      progressed = false;
      const items = st.held;
      st.held = [];
      const blocked = new Set<string>();
      for (const it of items) {
        if (blocked.has(it.port) || this.ahead(st, it.port)) {
          blocked.add(it.port);
          st.held.push(it);
          continue;
        }
        progressed = true;
        this.accept(st, it.port, it.message);
      }
    }
  }

  private emit(st: NodeState, port: string, batch: OpBatch): void {
    const edges = st.out.get(port);
    if (edges === undefined) {
      throw new Error(`emit on unknown output port "${port}" (ports: ${[...st.out.keys()].join(', ')})`);
    }
    const message: StreamMessage = { kind: 'batch', batch };
    for (const e of edges) this.route(e, message);
  }

  private route(edge: PlannedEdge, message: StreamMessage): void {
    if (edge.toNode !== null && edge.toThread === this.thread && this.states.has(edge.toNode)) {
      this.deliver(edge, message);
    } else this.links.remote(edge, message);
  }

  private guard<T>(st: NodeState, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof NodeFailure) throw e;
      throw new NodeFailure(st.id, e);
    }
  }
}
