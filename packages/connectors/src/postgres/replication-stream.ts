import type pg from 'pg';
import { PG_EPOCH_MICROS } from './pgoutput.js';
import { formatLsn, maxLsn } from './position.js';

/** The parts of pg's internal connection object the stream drives. */
interface PgConnection {
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  removeAllListeners(event: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

/** Received chunks buffered beyond this pause reading the socket, so a slow sink bounds memory. */
const HIGH_WATER = 20_000;
const LOW_WATER = 5_000;
/** How often a standby status update is sent, well inside the server's default 60 s wal_sender_timeout. */
const STATUS_INTERVAL_MS = 10_000;

/**
 * One `START_REPLICATION` session on a replication connection: buffers the
 * CopyData chunks the server sends (pausing the socket when the consumer
 * falls behind), answers keepalives, and reports the confirmed LSN in
 * standby status updates.
 */
export class ReplicationStream {
  private chunks: Buffer[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  private paused = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly replyWaiters: (() => void)[] = [];
  /** Set when the session ended; the chunks received before it are still delivered. */
  failure: unknown = null;
  ended = false;
  /** The highest WAL position the server reported (XLogData end or keepalive). */
  serverLsn = 0n;
  private confirmedLsn: bigint;
  private readonly connection: PgConnection;
  private closing = false;

  constructor(
    private readonly client: pg.Client,
    confirmed: bigint,
  ) {
    this.confirmedLsn = confirmed;
    this.connection = (client as unknown as { connection: PgConnection }).connection;
  }

  /** Starts streaming `slot` with publication `publication` from `startLsn`. */
  start(slot: string, publication: string, startLsn: bigint): void {
    this.connection.on('copyData', (msg) => this.onChunk(msg.chunk));
    const sql = `START_REPLICATION SLOT "${slot}" LOGICAL ${formatLsn(startLsn)} ("proto_version" '1', "publication_names" '${publication.replace(/'/g, "''")}')`;
    this.client.query(sql).then(
      () => this.finish(null),
      (e: unknown) => this.finish(e),
    );
    this.client.on('end', () => this.finish(new Error('Connection terminated unexpectedly')));
    this.timer = setInterval(() => this.sendStatus(false), STATUS_INTERVAL_MS);
  }

  private finish(e: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = this.closing ? null : (e ?? new Error('the server ended the replication stream'));
    this.stopTimer();
    for (const w of this.replyWaiters.splice(0)) w();
    this.notify();
  }

  private onChunk(chunk: Buffer): void {
    const tag = chunk[0];
    if (tag === 0x6b /* k: primary keepalive */) {
      const walEnd = chunk.readBigUInt64BE(1);
      if (walEnd > this.serverLsn) this.serverLsn = walEnd;
      if (chunk[17] === 1) this.sendStatus(false);
      for (const w of this.replyWaiters.splice(0)) w();
    } else if (tag === 0x77 /* w: XLogData */) {
      const walEnd = chunk.readBigUInt64BE(9);
      if (walEnd > this.serverLsn) this.serverLsn = walEnd;
    }
    // pg hands out each CopyData as a view into its read buffer, which it later reuses for
    // new socket data; a chunk queued here outlives that, so it must own its bytes.
    this.chunks.push(Buffer.from(chunk));
    if (!this.paused && this.chunks.length - this.head > HIGH_WATER) {
      this.paused = true;
      this.connection.stream.pause();
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The next buffered chunk, or undefined when none is buffered now. */
  take(): Buffer | undefined {
    if (this.head >= this.chunks.length) return undefined;
    const c = this.chunks[this.head++];
    if (this.head > 4096 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    if (this.paused && this.chunks.length - this.head < LOW_WATER) {
      this.paused = false;
      this.connection.stream.resume();
    }
    return c;
  }

  /** Chunks received and not yet taken. */
  get buffered(): number {
    return this.chunks.length - this.head;
  }

  /** Resolves when a chunk arrives, the session ends, or `signal` aborts. */
  waitForData(signal: AbortSignal): Promise<void> {
    if (this.buffered > 0 || this.ended || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Reports `lsn` as flushed (the server may then drop WAL before it) and
   * resolves once the server answered, so its slot shows the new LSN.
   */
  confirm(lsn: bigint): Promise<void> {
    if (lsn > this.confirmedLsn) this.confirmedLsn = lsn;
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.replyWaiters.push(resolve);
      this.sendStatus(true);
    });
  }

  get confirmed(): bigint {
    return this.confirmedLsn;
  }

  private sendStatus(requestReply: boolean): void {
    if (this.ended) return;
    const buf = Buffer.alloc(34);
    buf[0] = 0x72; // 'r'
    const written = maxLsn(this.serverLsn, this.confirmedLsn);
    buf.writeBigUInt64BE(written, 1);
    buf.writeBigUInt64BE(this.confirmedLsn, 9);
    buf.writeBigUInt64BE(this.confirmedLsn, 17);
    buf.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    buf[33] = requestReply ? 1 : 0;
    try {
      this.connection.sendCopyFromChunk(buf);
    } catch {
      // The socket is gone; the session's end reports why.
    }
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends a last status update and closes the connection. */
  async close(): Promise<void> {
    this.closing = true;
    this.sendStatus(false);
    this.stopTimer();
    this.finish(null);
    if (this.paused) this.connection.stream.resume();
    await this.client.end().catch(() => {});
  }
}
