/**
 * The sending side of a bounded channel between two threads: at most
 * `capacity` frames posted and not yet acknowledged by the receiver (it
 * acknowledges a frame once it has processed it). Frames beyond that wait
 * here; a thread with waiting frames stops taking input, which is how a
 * slow node holds back its upstream. Control messages keep their place
 * in the order but need no credit.
 */
export class OutChannel {
  private inFlight = 0;
  private readonly queue: (ArrayBuffer | { readonly control: unknown })[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    private readonly post: (message: unknown, transfer?: ArrayBuffer[]) => void,
    readonly capacity: number,
  ) {}

  /** True while frames wait for credit. */
  get blocked(): boolean {
    return this.queue.length > 0;
  }

  /** Frames posted and not yet acknowledged. */
  get unacknowledged(): number {
    return this.inFlight;
  }

  sendFrame(frame: ArrayBuffer): void {
    this.queue.push(frame);
    this.pump();
  }

  sendControl(control: unknown): void {
    this.queue.push({ control });
    this.pump();
  }

  ack(n: number): void {
    this.inFlight -= n;
    this.pump();
  }

  /** Resolves once no frame waits for credit. */
  drained(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head instanceof ArrayBuffer) {
        if (this.inFlight >= this.capacity) return;
        this.inFlight++;
        this.queue.shift();
        this.post(head, [head]);
      } else {
        this.queue.shift();
        this.post(head.control);
      }
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
