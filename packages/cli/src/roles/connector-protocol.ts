// Messages between a connector running on its own thread (connector-worker.ts) and its proxy
// on the engine's thread (connector-thread.ts).
import type { ConnectorOrigin, LagInfo, TableInfo, TableRequest } from '@dozer/connectors';
import type { SerializedError, SourcePosition } from '@dozer/core';

/** `workerData` of a connector thread. */
export interface ConnectorThreadInit {
  readonly origin: ConnectorOrigin;
  /** The connection's config, already validated on the engine's thread. */
  readonly config: unknown;
  /** The connection's name. */
  readonly name: string;
  /** `ConnectorContext.baseDir`. */
  readonly baseDir?: string;
  /** Batches the thread may hand over before the engine has taken the first of them. */
  readonly window: number;
}

/** A call of a {@link Connector} method, answered by a `reply` of the same id. */
export type ConnectorCall =
  | { readonly t: 'call'; readonly id: number; readonly m: 'listTables' }
  | { readonly t: 'call'; readonly id: number; readonly m: 'start'; readonly tables: readonly TableRequest[] }
  | {
      readonly t: 'call';
      readonly id: number;
      readonly m: 'acknowledge';
      readonly table: string;
      readonly position: SourcePosition;
    }
  | { readonly t: 'call'; readonly id: number; readonly m: 'lag' }
  | { readonly t: 'call'; readonly id: number; readonly m: 'close' };

/** A call as the engine makes it: `t` and `id` are added when it is posted. */
export type ConnectorCallBody = ConnectorCall extends infer C
  ? C extends ConnectorCall
    ? Omit<C, 't' | 'id'>
    : never
  : never;

/** Engine → connector thread. */
export type ToConnectorThread =
  | ConnectorCall
  /** The running `start` is aborted (its StartRequest's signal). */
  | { readonly t: 'abort' }
  /** The engine took (or failed to take) the `write` or `snapshotDone` of this id. */
  | { readonly t: 'taken'; readonly id: number; readonly error?: SerializedError };

/** Connector thread → engine. */
export type FromConnectorThread =
  | { readonly t: 'reply'; readonly id: number; readonly value?: TableInfo[] | LagInfo }
  | { readonly t: 'reply'; readonly id: number; readonly error: SerializedError }
  /** A batch of `table`, encoded with `encodeBatch` and the table's (projected) schema. */
  | {
      readonly t: 'write';
      readonly id: number;
      readonly table: string;
      readonly position: SourcePosition | null;
      readonly opCount: number;
      readonly bytes: Uint8Array;
    }
  | {
      readonly t: 'snapshotDone';
      readonly id: number;
      readonly table: string;
      readonly position: SourcePosition;
    }
  | {
      readonly t: 'log';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly message: string;
      readonly fields?: Readonly<Record<string, unknown>>;
    };
