import {
  type EncodedStateObject,
  finishStateObject,
  forEachRecord,
  putRecord,
  type RecordCursor,
  readRecords,
  type StateObject,
  startStateObject,
} from '../state-object.js';

/**
 * Merges a verified chain (a base and its deltas) into one base holding the
 * state at the chain's last epoch, from the stored bytes alone: values are
 * copied, never decoded, and only the deltas' keys are held in a map. It
 * yields to the event loop every `sliceRecords` base records, so compacting
 * a large state in the background does not stall the operator.
 */
export async function compactChain(
  objects: readonly StateObject[],
  sliceRecords = 20_000,
): Promise<EncodedStateObject> {
  const base = objects[0]!;
  const last = objects[objects.length - 1]!;
  // Later deltas win; null marks a delete.
  const changes = new Map<string, Uint8Array | null>();
  let deltaBytes = 0;
  for (let i = 1; i < objects.length; i++) {
    deltaBytes += objects[i]!.body.length;
    forEachRecord(objects[i]!, (key, value) => {
      changes.set(key, value);
    });
  }
  const w = startStateObject(base.body.length + deltaBytes);
  let count = 0;
  const cursor: RecordCursor = { pos: 0, index: 0 };
  for (;;) {
    const done = readRecords(base, cursor, sliceRecords, (key, value) => {
      const changed = changes.get(key);
      if (changed === undefined) {
        putRecord(w, key, value!);
        count++;
        return;
      }
      changes.delete(key);
      if (changed !== null) {
        putRecord(w, key, changed);
        count++;
      }
    });
    if (done) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  for (const [key, value] of changes) {
    if (value === null) continue;
    putRecord(w, key, value);
    count++;
  }
  return finishStateObject(w, 'base', last.epoch, last.epoch, count);
}
