import {
  encodeSchema,
  encodeStreamMessage,
  isObjectNotFound,
  type ObjectStore,
  type OpBatch,
  type Schema,
  type StreamMessage,
  streamMessageKind,
} from '@dozer/core';
import { OffsetOutOfRangeError, QueueError } from './errors.js';
import { type LogEvent, mergeLogEvents } from './events.js';
import { decodeIndex, encodeIndex, type LogIndex } from './index-file.js';
import type { LogEntry } from './log-entry.js';
import { validateReaderName } from './names.js';
import { decodeSegment, encodeSegment, type SegmentRef } from './segment.js';

/** Memory a log entry costs beyond its bytes (array slot, view object), for the memory bound. */
const ENTRY_OVERHEAD = 64;

/** Segments being stored at once: the next one travels while the store answers the previous one. */
const OFFLOAD_DEPTH = 2;

/** Settings of one log; see `LogQueueOptions` for their meaning and defaults. */
export interface LogSettings {
  readonly memoryLimitBytes: number;
  readonly offloadAtBytes: number;
  readonly segmentTargetBytes: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly indexIntervalMs: number;
  readonly maxEventBytes: number;
  readonly onError: (error: unknown, log: string) => void;
}

/** A snapshot of a log's state, for monitoring and tests. */
export interface LogStats {
  /** First offset still held (in a segment or in memory). */
  readonly start: bigint;
  /** First offset held in memory; everything before it is in segments. */
  readonly memoryStart: bigint;
  /** The offset the next append gets. */
  readonly next: bigint;
  /** Bytes of the in-memory tail as counted against `memoryLimitBytes`. */
  readonly memoryBytes: number;
  /** Segments listed in the index. */
  readonly segments: number;
  /** Appends waiting for memory (backpressure). */
  readonly waitingAppends: number;
  /** The last offload, index or delete failure, cleared by the next success. */
  readonly lastError: unknown;
  /** Registered readers and their committed offsets. */
  readonly readers: ReadonlyMap<string, bigint>;
}

interface PendingAppend {
  readonly bytes: Uint8Array;
  readonly resolve: (offset: bigint) => void;
  readonly reject: (e: unknown) => void;
}

/** Options of {@link Log.read}. */
export interface LogReadOptions {
  /** First offset to read; default: the log's start. */
  readonly from?: bigint;
  /** Stops the reader (the iterator ends). */
  readonly signal?: AbortSignal;
}

const pad = (n: bigint) => n.toString().padStart(20, '0');

/**
 * One append-only log: entries (encoded batches and barriers) at dense
 * offsets 0, 1, 2, …; a tail in memory bounded in bytes, the older part in
 * immutable segment files in an object store, listed by an index object.
 * Create logs with `LogQueue.openLog`.
 */
export class Log {
  readonly schemaBytes: Uint8Array;
  /** Facts about the log for its readers, as the opener stated them (`OpenLogOptions.labels`). */
  labels: Readonly<Record<string, string>> = {};
  /** The object key under which this log keeps its index and segments. */
  readonly dir: string;

  // The in-memory tail: mem[head..] hold offsets memStart..next-1.
  private mem: Uint8Array[] = [];
  private head = 0;
  private memStart: bigint;
  private nextOffset: bigint;
  private memBytes = 0;
  /** Entries in [memStart, cutEnd) are in segments being stored; cutBytes is their memory. */
  private cutEnd: bigint;
  private cutBytes = 0;
  private indexDirty = false;
  private indexWriter: Promise<void> | null = null;
  private lastIndexWrite = 0;

  private segments: SegmentRef[];
  private offloadedEnd: bigint;
  private readonly readers: Map<string, bigint>;
  /** Segments dropped by retention, deleted once an index without them is stored. */
  private garbage: SegmentRef[] = [];

  private pending: PendingAppend[] = [];
  private dataWaiters: (() => void)[] = [];
  private offloading: Promise<void> | null = null;
  private flushing = false;
  private closing = false;
  private stopped = false;
  private readonly sleepers = new Set<() => void>();
  private lastError: unknown = null;

  /** With `handOverAppended`: appended messages by their entry's bytes, until a reader takes them. */
  private handOver: WeakMap<Uint8Array, StreamMessage> | undefined;

  private indexTail: Promise<void> = Promise.resolve();
  private queuedIndexWrite: Promise<void> | null = null;

  private constructor(
    readonly name: string,
    readonly schema: Schema,
    private readonly store: ObjectStore,
    readonly storeLabel: string,
    dir: string,
    private readonly settings: LogSettings,
    index: LogIndex,
  ) {
    this.dir = dir;
    this.schemaBytes = index.schemaBytes;
    this.segments = [...index.segments];
    this.offloadedEnd = index.end;
    this.memStart = index.end;
    this.nextOffset = index.end;
    this.cutEnd = index.end;
    this.readers = new Map(index.readers);
    for (const [reader, committed] of this.readers) {
      // The in-memory tail of the previous run is gone; its offsets are reused.
      if (committed > this.nextOffset) this.readers.set(reader, this.nextOffset);
    }
  }

  /** Opens (or creates) the log stored under `dir`. @internal Use `LogQueue.openLog`. */
  static async open(
    name: string,
    schema: Schema,
    store: ObjectStore,
    storeLabel: string,
    dir: string,
    settings: LogSettings,
    readers: readonly string[],
    handOverAppended = false,
  ): Promise<Log> {
    const schemaBytes = encodeSchema(schema);
    const indexKey = `${dir}/index.json`;
    let index: LogIndex;
    let fresh = false;
    try {
      index = decodeIndex(indexKey, await store.get(indexKey));
    } catch (e) {
      if (!isObjectNotFound(e)) throw e;
      fresh = true;
      index = { log: name, schemaBytes, start: 0n, end: 0n, segments: [], readers: new Map() };
    }
    if (index.log !== name) {
      throw new QueueError(
        `the index at "${indexKey}" in ${storeLabel} belongs to log "${index.log}", not "${name}"; ` +
          'two logs map to the same key or the prefix is shared',
      );
    }
    if (Buffer.compare(index.schemaBytes, schemaBytes) !== 0) {
      throw new QueueError(
        `log "${name}" in ${storeLabel} was written with a different schema; ` +
          'delete its objects under the prefix (losing its data) or open it with the schema it was written with',
      );
    }
    // The index is written lazily during offload, so the last segments a
    // run stored may be missing from it: adopt every verified segment that
    // continues the indexed ones. Anything else under segments/ (a segment
    // cut short, one left by a failed retention delete) is not part of the log.
    const listed = new Set(index.segments.map((s) => s.key));
    const adopted: SegmentRef[] = [];
    const stray: string[] = [];
    let end = index.end;
    for (const key of await store.list(`${dir}/segments/`)) {
      if (listed.has(key)) continue;
      const m = /\/(\d{20})-(\d{20})\.seg$/.exec(key);
      const ref = m === null ? null : await adoptable(store, key, BigInt(m[1]!), BigInt(m[2]!), schemaBytes);
      if (ref !== null && ref.first === end) {
        adopted.push(ref);
        end = ref.end;
      } else {
        stray.push(key);
      }
    }
    if (adopted.length > 0) {
      index = {
        ...index,
        start: index.segments.length > 0 ? index.start : adopted[0]!.first,
        end,
        segments: [...index.segments, ...adopted],
      };
    }
    const log = new Log(name, schema, store, storeLabel, dir, settings, index);
    if (handOverAppended) log.handOver = new WeakMap();
    let changed = fresh || adopted.length > 0;
    for (const r of readers) {
      validateReaderName(r);
      if (!log.readers.has(r)) {
        log.readers.set(r, log.startOffset);
        changed = true;
      }
    }
    if (changed) await log.saveIndex();
    for (const key of stray) await store.delete(key);
    return log;
  }

  private get startOffset(): bigint {
    return this.segments.length > 0 ? this.segments[0]!.first : this.offloadedEnd;
  }

  /** First offset the log still holds. */
  get start(): bigint {
    return this.startOffset;
  }

  /** The offset the next append gets. */
  get next(): bigint {
    return this.nextOffset;
  }

  stats(): LogStats {
    return {
      start: this.startOffset,
      memoryStart: this.memStart,
      next: this.nextOffset,
      memoryBytes: this.memBytes,
      segments: this.segments.length,
      waitingAppends: this.pending.length,
      lastError: this.lastError,
      readers: new Map(this.readers),
    };
  }

  // -------------------------------------------------------------------------
  // Appending

  /** Appends a batch; resolves with its offset once it is in the log (see {@link appendMessage}). */
  append(batch: OpBatch): Promise<bigint> {
    return this.appendMessage({ kind: 'batch', batch });
  }

  /** Appends a checkpoint barrier of `epoch`; resolves with its offset. */
  appendBarrier(epoch: bigint): Promise<bigint> {
    return this.appendMessage({ kind: 'barrier', epoch });
  }

  /**
   * Appends a batch or barrier. Resolves at once while the in-memory tail is
   * below `memoryLimitBytes`; otherwise the entry waits (in order, without
   * an offset yet) until offloading has made room, which is how a slow or
   * unreachable object store pushes back on the source. An entry larger
   * than the limit is admitted when memory is empty.
   */
  appendMessage(message: StreamMessage): Promise<bigint> {
    if (this.closing) return Promise.reject(this.closedError());
    let bytes: Uint8Array;
    try {
      bytes = encodeStreamMessage(this.schema, message);
    } catch (e) {
      return Promise.reject(e);
    }
    this.handOver?.set(bytes, message);
    return this.appendBytes(bytes);
  }

  /**
   * Appends a batch or barrier already encoded: `bytes` is what
   * `encodeStreamMessage` gives for this log's schema (e.g. made on another
   * thread), kept as the entry without decoding it; only its header is
   * checked here, readers decode the rest. The log keeps `bytes`: the
   * caller must not modify or transfer them afterwards. Otherwise as
   * {@link appendMessage}.
   */
  appendEncoded(bytes: Uint8Array): Promise<bigint> {
    if (this.closing) return Promise.reject(this.closedError());
    try {
      streamMessageKind(bytes);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.appendBytes(bytes);
  }

  private appendBytes(bytes: Uint8Array): Promise<bigint> {
    if (this.pending.length === 0 && this.fits(bytes)) return Promise.resolve(this.insert(bytes));
    return new Promise<bigint>((resolve, reject) => {
      this.pending.push({ bytes, resolve, reject });
      this.kick();
    });
  }

  private fits(bytes: Uint8Array): boolean {
    return (
      this.memBytes === 0 || this.memBytes + bytes.length + ENTRY_OVERHEAD <= this.settings.memoryLimitBytes
    );
  }

  private insert(bytes: Uint8Array): bigint {
    const offset = this.nextOffset;
    this.mem.push(bytes);
    this.memBytes += bytes.length + ENTRY_OVERHEAD;
    this.nextOffset = offset + 1n;
    const waiters = this.dataWaiters;
    if (waiters.length > 0) {
      this.dataWaiters = [];
      for (const w of waiters) w();
    }
    this.kick();
    return offset;
  }

  private admitPending(): void {
    while (this.pending.length > 0 && this.fits(this.pending[0]!.bytes)) {
      const p = this.pending.shift()!;
      p.resolve(this.insert(p.bytes));
    }
  }

  // -------------------------------------------------------------------------
  // Offloading

  private needsOffload(): boolean {
    if (this.cutEnd === this.nextOffset) return false;
    const uncut = this.memBytes - this.cutBytes;
    return this.flushing || uncut > this.settings.offloadAtBytes || this.pending.length > 0;
  }

  private kick(): void {
    if (this.offloading !== null || this.stopped || !this.needsOffload()) return;
    this.offloading = this.offloadLoop().finally(() => {
      this.offloading = null;
      this.kick();
    });
  }

  /**
   * Cuts segments off the old end of memory and stores them, up to
   * {@link OFFLOAD_DEPTH} at a time; they are listed and leave memory in
   * offset order, each once its `put` succeeded. The index that lists them
   * is written in the background, at most every `indexIntervalMs` (a
   * restart adopts stored segments the index does not list yet, see `open`).
   */
  private async offloadLoop(): Promise<void> {
    type Flight = { n: number; size: number; stored: Promise<SegmentRef | null> };
    const launch = (): Flight => {
      const { n, size, built } = this.cutSegment();
      const stored = built.then(async ({ ref, file }) =>
        (await this.retrying(() => this.store.put(ref.key, file))) ? ref : null,
      );
      return { n, size, stored };
    };
    const flights: Flight[] = [];
    for (;;) {
      while (flights.length < OFFLOAD_DEPTH && !this.stopped && this.needsOffload()) flights.push(launch());
      const flight = flights.shift();
      if (flight === undefined) return;
      const ref = await flight.stored;
      if (ref === null) {
        await Promise.all(flights.map((f) => f.stored));
        return;
      }
      this.lastError = null;
      this.segments.push(ref);
      this.offloadedEnd = ref.end;
      this.dropFromMemory(flight.n, flight.size);
      this.admitPending();
      this.indexLater();
    }
  }

  /** Writes the index soon (not before `indexIntervalMs` after the last write), retrying until it is stored. */
  private indexLater(): void {
    this.indexDirty = true;
    // A flush writes the index when it is done.
    if (this.indexWriter !== null || this.stopped || this.flushing) return;
    this.indexWriter = (async () => {
      while (this.indexDirty && !this.stopped) {
        const wait = this.lastIndexWrite + this.settings.indexIntervalMs - Date.now();
        if (wait > 0) await this.sleep(wait);
        if (this.flushing) return;
        this.indexDirty = false;
        if (!(await this.retrying(() => this.saveIndex()))) return;
      }
    })().finally(() => {
      this.indexWriter = null;
    });
  }

  /** The next segment: entries from `cutEnd` on, up to `segmentTargetBytes` (at least one). */
  private cutSegment(): {
    n: number;
    size: number;
    built: Promise<{ ref: SegmentRef; file: Uint8Array }>;
  } {
    const from = this.head + Number(this.cutEnd - this.memStart);
    const available = this.mem.length - from;
    let n = 0;
    let size = 0;
    while (n < available) {
      const len = this.mem[from + n]!.length + ENTRY_OVERHEAD;
      if (n > 0 && size + len > this.settings.segmentTargetBytes) break;
      size += len;
      n++;
    }
    const first = this.cutEnd;
    const end = first + BigInt(n);
    this.cutEnd = end;
    this.cutBytes += size;
    const built = encodeSegment(this.schemaBytes, first, this.mem.slice(from, from + n)).then(
      ({ file, sha256 }) => ({
        ref: {
          key: `${this.dir}/segments/${pad(first)}-${pad(end)}.seg`,
          first,
          end,
          bytes: file.length,
          sha256,
        },
        file,
      }),
    );
    return { n, size, built };
  }

  /** Runs `op` until it succeeds, backing off after failures; false when the log stopped first. */
  private async retrying(op: () => Promise<void>): Promise<boolean> {
    let backoff = this.settings.retryInitialMs;
    for (;;) {
      if (this.stopped) return false;
      try {
        await op();
        return true;
      } catch (e) {
        this.report(e);
        if (this.stopped) return false;
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.settings.retryMaxMs);
      }
    }
  }

  private dropFromMemory(n: number, size: number): void {
    for (let i = 0; i < n; i++) this.mem[this.head + i] = EMPTY;
    this.head += n;
    this.memBytes -= size;
    this.cutBytes -= size;
    this.memStart += BigInt(n);
    if (this.head > 1024 && this.head * 2 > this.mem.length) {
      this.mem = this.mem.slice(this.head);
      this.head = 0;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private report(e: unknown): void {
    this.lastError = e;
    try {
      this.settings.onError(e, this.name);
    } catch {
      // A failing error handler must not stop offloading.
    }
  }

  /**
   * Writes the whole in-memory tail to segments and the index, and resolves
   * when both are stored (waits, retrying, while the object store is
   * unreachable).
   */
  async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (!this.stopped && this.memStart < this.nextOffset) {
        this.kick();
        if (this.offloading === null) break;
        await this.offloading;
      }
    } finally {
      this.flushing = false;
    }
    if (this.memStart < this.nextOffset) throw this.closedError();
    if (this.indexDirty) {
      this.indexDirty = false;
      if (!(await this.retrying(() => this.saveIndex()))) throw this.closedError();
    }
  }

  // -------------------------------------------------------------------------
  // The index

  /** Stores the index as it is when the write starts; concurrent callers share a write. */
  private saveIndex(): Promise<void> {
    if (this.queuedIndexWrite !== null) return this.queuedIndexWrite;
    const write = this.indexTail
      .catch(() => {})
      .then(async () => {
        this.queuedIndexWrite = null;
        const garbage = this.garbage;
        this.garbage = [];
        const bytes = encodeIndex({
          log: this.name,
          schemaBytes: this.schemaBytes,
          start: this.startOffset,
          end: this.offloadedEnd,
          segments: this.segments,
          readers: this.readers,
        });
        try {
          await this.store.put(`${this.dir}/index.json`, bytes);
          this.lastIndexWrite = Date.now();
        } catch (e) {
          this.garbage = garbage.concat(this.garbage);
          throw e;
        }
        for (const g of garbage) {
          await this.store.delete(g.key).catch((e: unknown) => this.report(e));
        }
      });
    this.queuedIndexWrite = write;
    this.indexTail = write;
    return write;
  }

  // -------------------------------------------------------------------------
  // Readers and retention

  /**
   * Records that `reader` has processed everything before `offset` (the
   * next offset it will read), registering the reader if it is new, and
   * stores it in the index. Segments every registered reader has committed
   * past are then deleted.
   */
  async commit(reader: string, offset: bigint): Promise<void> {
    validateReaderName(reader);
    if (typeof offset !== 'bigint' || offset < this.startOffset || offset > this.nextOffset) {
      throw new OffsetOutOfRangeError(
        `log "${this.name}": cannot commit offset ${String(offset)} for reader "${reader}"; ` +
          `the log holds offsets ${this.startOffset}..${this.nextOffset} (a commit names the next offset to read)`,
        this.startOffset,
        this.nextOffset,
      );
    }
    this.readers.set(reader, offset);
    await this.saveIndex();
    await this.retain();
  }

  /** Registers `reader` at `from` (default: the log's start) unless it is registered; retention then waits for it. */
  async registerReader(reader: string, from: bigint = this.startOffset): Promise<void> {
    validateReaderName(reader);
    if (this.readers.has(reader)) return;
    this.checkFrom(from);
    this.readers.set(reader, from);
    await this.saveIndex();
  }

  /** Forgets `reader`: retention no longer waits for it. */
  async unregisterReader(reader: string): Promise<void> {
    if (!this.readers.delete(reader)) return;
    await this.saveIndex();
    await this.retain();
  }

  /** The committed offset of `reader`, or `undefined` when it is not registered. */
  committed(reader: string): bigint | undefined {
    return this.readers.get(reader);
  }

  /** Drops the segments every registered reader committed past; resolves once they are deleted. */
  private async retain(): Promise<void> {
    if (this.readers.size === 0) return;
    let min = this.nextOffset;
    for (const c of this.readers.values()) if (c < min) min = c;
    let k = 0;
    while (k < this.segments.length && this.segments[k]!.end <= min && this.segments[k]!.end <= this.memStart)
      k++;
    if (k === 0) return;
    this.garbage.push(...this.segments.splice(0, k));
    // A failed write leaves the segments in `garbage`; the next index write retries.
    await this.saveIndex().catch((e: unknown) => this.report(e));
  }

  // -------------------------------------------------------------------------
  // Reading

  private checkFrom(from: bigint): void {
    if (typeof from !== 'bigint' || from < this.startOffset || from > this.nextOffset) {
      throw new OffsetOutOfRangeError(
        `log "${this.name}": cannot read from offset ${String(from)}; it holds offsets ` +
          `${this.startOffset}..${this.nextOffset}` +
          (typeof from === 'bigint' && from < this.startOffset
            ? ' (older segments were deleted once every registered reader had committed past them)'
            : ''),
        this.startOffset,
        this.nextOffset,
      );
    }
  }

  /**
   * The events a reader from `from` gets: segment locations for the part no
   * longer in memory, then runs of in-memory entries, then each append as it
   * happens. Pull-based: the log holds nothing for a reader but its cursor,
   * and a reader that falls behind the memory start gets segment locations
   * again. Ends when `signal` aborts or the log closes.
   */
  async *events(from: bigint, signal?: AbortSignal): AsyncGenerator<LogEvent> {
    this.checkFrom(from);
    let cursor = from;
    const maxBytes = this.settings.maxEventBytes;
    for (;;) {
      if (this.stopped || signal?.aborted) return;
      if (cursor < this.memStart) {
        this.checkFrom(cursor);
        const to = this.memStart;
        const refs: SegmentRef[] = [];
        let i = firstSegmentEndingAfter(this.segments, cursor);
        for (; i < this.segments.length && this.segments[i]!.first < to; i++) refs.push(this.segments[i]!);
        yield { kind: 'segments', from: cursor, to, refs };
        cursor = to;
        continue;
      }
      if (cursor < this.nextOffset) {
        let i = this.head + Number(cursor - this.memStart);
        const stop = this.mem.length;
        const entries: Uint8Array[] = [];
        let size = 0;
        for (; i < stop; i++) {
          const e = this.mem[i]!;
          if (entries.length > 0 && size + e.length > maxBytes) break;
          entries.push(e);
          size += e.length;
        }
        yield { kind: 'entries', first: cursor, entries };
        cursor += BigInt(entries.length);
        continue;
      }
      await this.waitForData(signal);
    }
  }

  private waitForData(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped || signal?.aborted) return resolve();
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.dataWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Reads the log in this process from `from` on: offloaded segments from
   * the object store (verified), then memory, then live appends, each offset
   * once. The iterator runs until `signal` aborts, the loop breaks, or the
   * log closes.
   */
  read(options: LogReadOptions = {}): AsyncGenerator<LogEntry> {
    const from = options.from ?? this.startOffset;
    this.checkFrom(from);
    return mergeLogEvents(
      this.events(from, options.signal),
      {
        log: this.name,
        schema: this.schema,
        schemaBytes: this.schemaBytes,
        store: this.store,
        storeLabel: this.storeLabel,
        ...(this.handOver ? { handOver: this.handOver } : {}),
      },
      from,
    );
  }

  // -------------------------------------------------------------------------
  // Closing

  /**
   * Stops the log: new appends fail; with `flush` (the default) the
   * in-memory tail is first written to segments so a restart continues at
   * the same offset. Readers' iterators end; appends still waiting fail.
   */
  async close(options: { flush?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    if (options.flush ?? true) await this.flush();
    this.stopped = true;
    for (const wake of [...this.sleepers]) wake();
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(this.closedError());
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const w of waiters) w();
    await this.offloading;
    await this.indexTail.catch(() => {});
  }

  private closedError(): QueueError {
    return new QueueError(`log "${this.name}" is closed`, { code: 'INTERNAL' });
  }
}

const EMPTY = new Uint8Array(0);

/** The segment under `key` if it is whole and valid for offsets first..end, else null. */
async function adoptable(
  store: ObjectStore,
  key: string,
  first: bigint,
  end: bigint,
  schemaBytes: Uint8Array,
): Promise<SegmentRef | null> {
  const file = await store.get(key);
  if (file.length < 32) return null;
  const sha256 = Buffer.from(file.buffer, file.byteOffset + file.length - 32, 32).toString('hex');
  const ref: SegmentRef = { key, first, end, bytes: file.length, sha256 };
  try {
    await decodeSegment(ref, file, schemaBytes);
    return ref;
  } catch {
    return null;
  }
}

function firstSegmentEndingAfter(segments: readonly SegmentRef[], offset: bigint): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid]!.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
