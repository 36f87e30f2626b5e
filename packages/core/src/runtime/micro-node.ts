import { DozerError, ErrorCode } from '../errors.js';
import type { OpBatch } from '../operation.js';
import type { Schema } from '../schema.js';

/**
 * A micro-node: one unit of work of the DAG runtime, living on one thread.
 * The runtime calls it with the batches of its input ports and with the
 * barriers that separate epochs; it emits batches on its output ports
 * through its {@link MicroNodeContext}. Calls are synchronous and never
 * overlap; batches arrive per input port in the order they were emitted.
 */
export interface MicroNode {
  /** A batch arrived on input `port`. The batch must not be mutated (it may be shared with other nodes). */
  onBatch(port: string, batch: OpBatch): void;
  /**
   * The barrier of `epoch` arrived on every input port: everything before it
   * has been delivered, nothing after it yet (batches of later epochs that
   * arrive early on one port are held back until then). What the node emits
   * here still belongs to `epoch`; the runtime forwards the barrier on every
   * output port when this returns.
   */
  onBarrier?(epoch: bigint): void;
  /** The node's state, for a checkpoint; called only between epochs. */
  snapshot?(): Uint8Array;
  /** Replaces the node's state with what {@link MicroNode.snapshot} returned. */
  restore?(bytes: Uint8Array): void;
  /** The runtime is shutting down. */
  close?(): void;
}

/** What a micro-node gets from the runtime. */
export interface MicroNodeContext {
  readonly id: string;
  /** The worker thread the node runs on (0 in single-thread mode). */
  readonly thread: number;
  /** Input port → schema of the batches that arrive on it. */
  readonly inputs: ReadonlyMap<string, Schema>;
  /** Output port → schema of the batches the node emits on it. */
  readonly outputs: ReadonlyMap<string, Schema>;
  /**
   * Sends a batch on an output port to every edge leaving it. The runtime
   * encodes it at once when an edge leaves the thread, so the node may
   * reuse its arrays afterwards; edges inside the thread receive the object
   * itself.
   */
  emit(port: string, batch: OpBatch): void;
}

/**
 * What a node module exports (as `createMicroNode` unless the spec names
 * another export): builds a node from the spec's `args`, in the thread the
 * node is assigned to.
 */
export type MicroNodeFactory = (args: unknown, context: MicroNodeContext) => MicroNode | Promise<MicroNode>;

/** One micro-node of a {@link MicroRuntimeSpec}. */
export interface MicroNodeSpec {
  /** Unique within the runtime; errors name it. */
  readonly id: string;
  /** URL (`file:…`) or bare specifier of the module that exports the factory, importable from a worker thread. */
  readonly module: string;
  /** The factory's export name; default `createMicroNode`. */
  readonly factory?: string;
  /** Passed to the factory; must survive structured cloning (no functions, no class instances). */
  readonly args?: unknown;
  /** Input port names. */
  readonly inputs?: readonly string[];
  /** Output ports, each with the schema of what it emits (the codec needs it between threads). */
  readonly outputs?: readonly { readonly name: string; readonly schema: Schema }[];
  /** Explicit worker thread (0-based); give it on every node or on none. */
  readonly thread?: number;
  /** Relative cost, used to balance the default assignment; default 1. */
  readonly weight?: number;
}

/** Where an edge starts: a node's output port, or an input the caller pushes into. */
export type EdgeSource = { readonly node: string; readonly port: string } | { readonly input: string };
/** Where an edge ends: a node's input port, or an output delivered to the caller. */
export type EdgeTarget = { readonly node: string; readonly port: string } | { readonly output: string };

/** The graph a {@link MicroRuntime} runs. */
export interface MicroRuntimeSpec {
  /** What the caller pushes in, each with the schema of its batches. */
  readonly inputs: readonly { readonly name: string; readonly schema: Schema }[];
  /** What the caller gets out (through `onOutput`). */
  readonly outputs: readonly string[];
  readonly nodes: readonly MicroNodeSpec[];
  /** Every node input port and every output takes exactly one edge; an output port or input may feed many. */
  readonly edges: readonly { readonly from: EdgeSource; readonly to: EdgeTarget }[];
}

/**
 * A micro-node failed (threw while being created or called), a worker
 * thread died, or the runtime was used after it failed or closed. `node`
 * names the micro-node when there is one; `code` is the code of the
 * original error when it had one from the table (`EVAL` for an SQL runtime
 * error), `INTERNAL` otherwise; `cause` is the original error (rebuilt from
 * what crossed the thread boundary: name, message, stack, code).
 */
export class MicroNodeError extends DozerError {
  override name = 'MicroNodeError';
  readonly node: string | null;
  readonly thread: number | null;

  constructor(message: string, node: string | null, thread: number | null, cause?: unknown) {
    super(codeOf(cause), message, cause === undefined ? {} : { cause });
    this.node = node;
    this.thread = thread;
  }
}

const CODES = new Set<string>(Object.values(ErrorCode));

function codeOf(cause: unknown): ErrorCode {
  if (cause !== null && typeof cause === 'object') {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) {
      return code as ErrorCode;
    }
  }
  return ErrorCode.Internal;
}

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
  /** A {@link DozerError}'s `retryable`. */
  readonly retryable?: boolean;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const { code, retryable } = e as { code?: unknown; retryable?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(e.stack === undefined ? {} : { stack: e.stack }),
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof retryable === 'boolean' ? { retryable } : {}),
    };
  }
  return { name: 'Error', message: String(e) };
}

/**
 * An Error carrying what {@link serializeError} kept: a {@link DozerError}
 * (same code, name and `retryable`) when it was one.
 */
export function deserializeError(s: SerializedError): Error {
  if (s.code !== undefined && CODES.has(s.code) && s.retryable !== undefined) {
    const d = new DozerError(s.code as ErrorCode, s.message, { retryable: s.retryable });
    d.name = s.name;
    if (s.stack !== undefined) d.stack = s.stack;
    return d;
  }
  const e = new Error(s.message);
  e.name = s.name;
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.code !== undefined) Object.assign(e, { code: s.code });
  return e;
}
