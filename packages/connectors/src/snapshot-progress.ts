/** A table's snapshot while it runs: the source's own estimate of the table's rows (null: none), and the rows read. */
export interface SnapshotProgress {
  readonly estimate: number | null;
  read: number;
}

/** The rows a snapshot has left by the source's estimate (never below 0; null without an estimate), for `lag()`. */
export function snapshotRowsLeft(p: SnapshotProgress): number | null {
  return p.estimate === null ? null : Math.max(0, p.estimate - p.read);
}
