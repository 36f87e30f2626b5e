import type { Operation, Row } from '@dozer/core';
import type { EndpointStore, Filter, StoreChange } from '@dozer/store';
import { rowMatcher } from './row-filter.js';

/** Options of {@link followChanges}. */
export interface FollowOptions {
  /** Only changes touching rows that match (the subscriber's filter ANDed with its tenant filter). */
  readonly filter?: Filter | undefined;
  /** Replay the retained changes after this version first (throws the store's ChangesExpiredError when pruned). */
  readonly after?: bigint | undefined;
}

/**
 * Follows an endpoint's change feed: calls `deliver` with each batch of
 * committed changes, in order, seen through the filter. A subscriber under a
 * filter keeps a correct filtered copy: an update of a row that stays inside
 * arrives as an update, one that enters as an insert of the new row, one that
 * leaves as a delete of the old row, and a row that never matched is never
 * shown (tenant isolation). Returns the unsubscribe function.
 */
export function followChanges(
  store: EndpointStore,
  options: FollowOptions,
  deliver: (changes: readonly StoreChange[]) => void,
): () => void {
  const view = filteredView(options.filter, store);
  let last = options.after ?? store.version();
  const push = (changes: readonly StoreChange[]) => {
    const out: StoreChange[] = [];
    for (const c of changes) {
      if (c.version <= last) continue;
      last = c.version;
      const op = view(c.op);
      if (op) out.push(op === c.op ? c : { version: c.version, op });
    }
    if (out.length > 0) deliver(out);
  };
  // Subscribing and reading the retained changes happen in one synchronous
  // stretch, so no commit falls between them; `last` drops any overlap.
  const unsubscribe = store.subscribe(push);
  if (options.after !== undefined) {
    try {
      for (;;) {
        const page = store.changesSince(last, 1000);
        if (page.length === 0) break;
        push(page);
      }
    } catch (e) {
      unsubscribe();
      throw e;
    }
  }
  return unsubscribe;
}

/** How an operation looks through a filter, or undefined when the filter hides it. */
function filteredView(
  filter: Filter | undefined,
  store: EndpointStore,
): (op: Operation) => Operation | undefined {
  if (!filter) return (op) => op;
  const match = rowMatcher(filter, store.schema);
  return (op) => {
    switch (op.kind) {
      case 'insert':
        return match(op.new) ? op : undefined;
      case 'delete':
        return match(op.old) ? op : undefined;
      case 'update': {
        const was = match(op.old);
        const is = match(op.new);
        if (was && is) return op;
        if (is) return { kind: 'insert', new: op.new as Row };
        if (was) return { kind: 'delete', old: op.old as Row };
        return undefined;
      }
    }
  };
}
