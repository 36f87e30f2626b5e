import type { OpBatch, Row } from '@dozer/core';
import type { IngestSink } from '../connector.js';

/**
 * A sink for the object_store tests: records batches and snapshot ends,
 * lets a test wait until a condition holds (checked after every call, no
 * polling), and can run a hook on each write (to abort mid-stream).
 */
export interface RecordingSink extends IngestSink {
  readonly batches: OpBatch[];
  readonly snapshots: [string, string][];
  rows(table?: string): Row[];
  /** Resolves once `pred` holds (checked now and after every write or snapshotDone). */
  until(pred: () => boolean): Promise<void>;
}

export function recordingSink(onWrite?: (batch: OpBatch, sink: RecordingSink) => void): RecordingSink {
  const waiters: { pred: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.pred()) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };
  const sink: RecordingSink = {
    batches: [],
    snapshots: [],
    rows: (table) =>
      sink.batches
        .filter((b) => table === undefined || b.table === table)
        .flatMap((b) => b.ops.map((op) => (op.kind === 'insert' ? op.new : []))),
    until(pred) {
      if (pred()) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    async write(batch) {
      sink.batches.push(batch);
      onWrite?.(batch, sink);
      check();
    },
    async snapshotDone(table, position) {
      sink.snapshots.push([table, position]);
      check();
    },
  };
  return sink;
}
