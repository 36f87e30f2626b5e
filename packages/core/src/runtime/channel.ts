/**
 * The sending side of a bounded channel between two threads: at most
 * `capacity` frames posted and not yet acknowledged by the receiver (it
 * acknowledges frames once it has processed them). Frames beyond that wait
 * here; a thread with frames waiting stops taking input, which is how a slow
 * node holds back its upstream. Control messages keep their place in the
 * order but need no credit; acknowledgements (numbers) need neither credit
 * nor order and never wait behind frames, so credit always comes back.
 *
 * Everything sendable at once goes out as one postMessage (an array of
 * frames, acknowledgements and control messages): while a thread processes
 * its input the channel is corked, and uncorking posts what piled up.
 */
export class OutChannel {
  private inFlight = 0;
  private framesQueued = 0;
  private acks = 0;
  private corked = false;
  private readonly queue: unknown[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    private readonly post: (items: unknown[], transfer: ArrayBuffer[]) => void,
    readonly capacity: number,
  ) {}

  /** True when some queued frame cannot be posted for want of credit. */
  get blocked(): boolean {
    return this.framesQueued > 0 && this.inFlight + this.framesQueued > this.capacity;
  }

  sendFrame(frame: ArrayBuffer): void {
    this.queue.push(frame);
    this.framesQueued++;
    this.pump();
  }

  sendControl(control: object): void {
    this.queue.push(control);
    this.pump();
  }

  /** Acknowledges `n` frames received from the other side. */
  sendAck(n: number): void {
    this.acks += n;
    this.pump();
  }

  /** Credit came back for `n` frames. */
  credit(n: number): void {
    this.inFlight -= n;
    this.pump();
  }

  cork(): void {
    this.corked = true;
  }

  uncork(): void {
    this.corked = false;
    this.pump();
  }

  /** Resolves once no frame waits for credit. */
  drained(): Promise<void> {
    if (this.framesQueued === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private pump(): void {
    if (this.corked) return;
    const items: unknown[] = [];
    const transfer: ArrayBuffer[] = [];
    if (this.acks > 0) {
      items.push(this.acks);
      this.acks = 0;
    }
    let n = 0;
    while (n < this.queue.length) {
      const head = this.queue[n]!;
      if (head instanceof ArrayBuffer) {
        if (this.inFlight >= this.capacity) break;
        this.inFlight++;
        this.framesQueued--;
        transfer.push(head);
      }
      items.push(head);
      n++;
    }
    if (n > 0) this.queue.splice(0, n);
    if (items.length > 0) this.post(items, transfer);
    if (this.framesQueued === 0 && this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }
}
