/**
 * How far a role got in each log it reads: the next offset it will handle.
 * `dozer run` waits on them to tell when everything ingested is served, and
 * the progress display shows them.
 */
export class Watermarks {
  private readonly marks = new Map<string, bigint>();
  private waiters: Array<{ log: string; target: bigint; resolve: () => void }> = [];

  get(log: string): bigint {
    return this.marks.get(log) ?? 0n;
  }

  set(log: string, next: bigint): void {
    this.marks.set(log, next);
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.log === log && next >= w.target) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Resolves once `log` reached `target`. */
  reach(log: string, target: bigint): Promise<void> {
    if (this.get(log) >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ log, target, resolve }));
  }
}
