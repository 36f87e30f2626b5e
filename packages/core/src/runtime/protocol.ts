import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './micro-node.js';
import type { RuntimePlan } from './plan.js';

/** What a worker thread starts with. */
export interface WorkerInit {
  readonly thread: number;
  readonly plan: RuntimePlan;
  /** Frames in flight per channel. */
  readonly capacity: number;
  /** A frame is cut once it holds this many bytes. */
  readonly frameBytes: number;
  /** One port per thread this one exchanges data with. */
  readonly peers: readonly { readonly thread: number; readonly port: MessagePort }[];
}

/**
 * Every postMessage between threads carries an array of items: frames
 * (ArrayBuffer), acknowledgements of frames received (a number: how many)
 * and control messages. Host → worker control messages:
 */
export type HostMessage =
  | { readonly t: 'snapshot'; readonly id: number }
  | { readonly t: 'restore'; readonly id: number; readonly states: Map<string, Uint8Array> }
  | { readonly t: 'close' };

/** Worker → host control messages. */
export type WorkerMessage =
  | { readonly t: 'ready'; readonly thread: number }
  | { readonly t: 'passed'; readonly thread: number; readonly epoch: bigint }
  | {
      readonly t: 'states';
      readonly thread: number;
      readonly id: number;
      readonly states: Map<string, Uint8Array>;
    }
  | { readonly t: 'restored'; readonly thread: number; readonly id: number }
  | {
      readonly t: 'error';
      readonly thread: number;
      readonly node: string | null;
      readonly error: SerializedError;
    };
