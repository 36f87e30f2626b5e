import { createHash, randomBytes } from 'node:crypto';
import {
  type JsonValue,
  makeSchema,
  ObjectNotFoundError,
  type ObjectStore,
  type SourcePosition,
  Timestamp,
} from '@dozer/core';
import type { CheckpointStore, LoadedCheckpoint, StateObjectRef } from '@dozer/snapshot';
import type { Store } from '@dozer/store';
import type { DozerConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import {
  CHECKPOINT_PREFIX,
  encodePipelineRecord,
  PIPELINE_OPERATOR,
  pipelineFingerprint,
  readPipelineRecord,
} from './checkpointing.js';
import type { RunningIngestor } from './ingest.js';
import { deleteKeys } from './object-store.js';
import { stateFormOf } from './transform.js';

// Checkpoints of the separate roles (`dozer ingest`, `dozer process`, `dozer serve`), coordinated
// through the shared object store, with no RPC of their own. Objects, under checkpoints/split/:
//
//   generation                      JSON {version 1, generation, id, epoch|null, floor, by}: the
//                                   run every role is in, and the checkpoint it started from
//   <id>/trigger/<epoch>            written by the coordinator (the first ingestor) when it injects
//                                   the barrier of <epoch>; the other ingestors inject the same
//   <id>/part/<epoch>/<participant> JSON PartJson (version 1): a participant's share of the
//                                   checkpoint (sources, operators' state refs, store epoch), or
//                                   {ok: false, error} when it cannot take part
//   <id>/changed/<ingestor>         an ingestor other than the coordinator has changes since its
//                                   last barrier (the coordinator takes a checkpoint only then)
//   <id>/ready/<ingestor>           an ingestor other than the coordinator is past its snapshots:
//                                   no epoch is triggered before every ingestor is
//
// The coordinator commits the manifest (`CheckpointStore.commit`) once every participant of the
// config wrote its part of the epoch in the same generation. A role that starts, or loses its
// upstream, writes a new generation: every role then restarts from its epoch (or rebuilds when
// it is null), with fresh queues. Each role serves an empty log named after its generation, so a
// downstream role reads only the logs of its own generation.

/** Key prefix of the split roles' coordination objects. */
export const SPLIT_PREFIX = `${CHECKPOINT_PREFIX}/split`;
const GENERATION_KEY = `${SPLIT_PREFIX}/generation`;

/**
 * How often the roles look at the object store for triggers, parts, manifests
 * and generations: a tenth of `checkpoint.interval_ms`, from 100 ms to 1 s
 * (each look is a GET or a LIST, which an S3 bucket bills).
 */
export function splitPollMs(config: DozerConfig): number {
  return Math.min(1000, Math.max(100, Math.round(config.checkpoint.interval_ms / 10)));
}

/**
 * Epochs of generation g start above `g << 24` (and above every epoch seen
 * when it began): an old generation's coordinator that has not noticed the
 * new one yet can never trigger an epoch the new one uses.
 */
export function firstEpochOf(generation: Generation): bigint {
  return maxOf([generation.floor, BigInt(generation.generation) << 24n]) + 1n;
}

/** A run of the split pipeline: every role restarts when it changes. */
export interface Generation {
  readonly generation: number;
  /** `<generation>-<random>`: two roles that bump at once write different ids, and both restart. */
  readonly id: string;
  /** The checkpoint every role continues from; `null`: every role rebuilds (store reset, sources from scratch). */
  readonly epoch: bigint | null;
  /** Epochs of this generation start above this. */
  readonly floor: bigint;
}

/** A role saw the generation change: it restarts from the new one's checkpoint. */
export class GenerationChangedError extends Error {
  override name = 'GenerationChangedError';
  constructor(readonly generation: Generation) {
    super(`the pipeline restarted (generation ${generation.generation})`);
  }
}

/** Whether the separate roles checkpoint: `checkpoint.interval_ms` > 0. */
export function splitCheckpointsOn(config: DozerConfig): boolean {
  return config.checkpoint.interval_ms > 0;
}

/** The checkpoint participant id of each role the config has: every ingestor and processor node, and the API. */
export function splitParticipants(config: DozerConfig): string[] {
  return [
    ...config.nodes.ingestors.map((n) => ingestorParticipant(n.name)),
    ...config.nodes.processors.map((n) => processorParticipant(n.name)),
    API_PARTICIPANT,
  ];
}
export const ingestorParticipant = (name: string) => `ingestor.${name}`;
export const processorParticipant = (name: string) => `processor.${name}`;
export const API_PARTICIPANT = 'api';

/** {@link pipelineFingerprint} of the whole config, with which node owns which sources and tables. */
export function splitFingerprint(config: DozerConfig): string {
  const layout = {
    base: pipelineFingerprint(config, stateFormOf(config.threads)),
    ingestors: config.nodes.ingestors.map((n) => [n.name, n.sources]),
    processors: config.nodes.processors.map((n) => [n.name, n.tables]),
  };
  return createHash('sha256').update(JSON.stringify(layout)).digest('hex').slice(0, 32);
}

/** The operator id prefix of a processor's state in the manifest: processors never collide. */
export const processorOperatorPrefix = (name: string) => `${name}/`;

/** The empty log a role serves to say which generation its logs belong to. */
export const generationMarkerLog = (generation: Generation) => `dozer.generation.${generation.id}`;
export const GENERATION_MARKER_SCHEMA = makeSchema([{ name: 'generation', type: 'string', nullable: false }]);

interface GenerationJson {
  version: 1;
  generation: number;
  id: string;
  epoch: string | null;
  floor: string;
  by: string;
}

/** The current generation, or `undefined` before the first. */
export async function readGeneration(objects: ObjectStore): Promise<Generation | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await objects.get(GENERATION_KEY);
  } catch (e) {
    if (e instanceof ObjectNotFoundError) return undefined;
    throw e;
  }
  const j = JSON.parse(new TextDecoder().decode(bytes)) as GenerationJson;
  if (j.version !== 1) throw new Error(`${GENERATION_KEY}: unknown version ${String(j.version)}`);
  return {
    generation: j.generation,
    id: j.id,
    epoch: j.epoch === null ? null : BigInt(j.epoch),
    floor: BigInt(j.floor),
  };
}

const maxOf = (values: Iterable<bigint>, start = 0n) => {
  let m = start;
  for (const v of values) if (v > m) m = v;
  return m;
};

/** The epoch at the end of keys like `…/trigger/<epoch>` or `…/part/<epoch>/<who>`. */
function epochsIn(keys: readonly string[]): bigint[] {
  const out: bigint[] = [];
  for (const k of keys) {
    const m = /\/(?:trigger|part)\/(\d+)(?:\/|$)/.exec(k);
    if (m) out.push(BigInt(m[1]!));
  }
  return out;
}

/**
 * The generations of the split roles as one role sees them: it starts a new
 * one (choosing the newest complete checkpoint of this pipeline, or none),
 * and notices when another role did.
 */
export class Generations {
  constructor(
    private readonly objects: ObjectStore,
    private readonly checkpoints: CheckpointStore,
    private readonly fingerprint: string,
    private readonly log: Logger,
    /** Which role this is, in the generation object and the log. */
    private readonly who: string,
    /** How often {@link changed} reads the generation ({@link splitPollMs}). */
    private readonly pollMs = 150,
  ) {}

  read(): Promise<Generation | undefined> {
    return readGeneration(this.objects);
  }

  /**
   * Starts a new generation: from the newest complete checkpoint written by
   * this pipeline (`from: 'newest'`), or rebuilding (`from: 'none'`).
   */
  async bump(reason: string, from: 'newest' | 'none'): Promise<Generation> {
    const previous = await this.read();
    let epoch: bigint | null = null;
    if (from === 'newest') {
      const loaded = await this.checkpoints.loadLatest();
      if (loaded) {
        let fingerprint: string | undefined;
        let unreadable: string | undefined;
        try {
          fingerprint = readPipelineRecord(loaded, PIPELINE_OPERATOR).fingerprint;
        } catch (e) {
          unreadable = (e as Error).message;
        }
        if (fingerprint === this.fingerprint) epoch = loaded.manifest.epoch;
        else if (unreadable !== undefined) {
          this.log.warn(
            `checkpoint ${loaded.manifest.epoch} has no readable pipeline record (${unreadable}); rebuilding from the sources`,
          );
        } else {
          this.log.warn(
            `checkpoint ${loaded.manifest.epoch} was written for other sources, SQL, endpoints, nodes or threads setting than dozer.yaml has now (${fingerprint}, not ${this.fingerprint}); rebuilding from the sources`,
          );
        }
      }
    }
    const listed = await this.checkpoints.list();
    const split = await this.objects.list(`${SPLIT_PREFIX}/`);
    const floor = maxOf([...listed, ...epochsIn(split), previous?.floor ?? 0n, epoch ?? 0n]);
    const n = (previous?.generation ?? 0) + 1;
    const json: GenerationJson = {
      version: 1,
      generation: n,
      id: `${n}-${randomBytes(4).toString('hex')}`,
      epoch: epoch === null ? null : epoch.toString(),
      floor: floor.toString(),
      by: this.who,
    };
    await this.objects.put(GENERATION_KEY, new TextEncoder().encode(JSON.stringify(json)));
    // Two roles that begin a generation at once both write it: the last write wins, and the
    // other adopts it here rather than starting a run nobody else is in.
    await new Promise((r) => setTimeout(r, this.pollMs * 2));
    const settled = await this.read();
    if (settled && settled.id !== json.id && settled.generation >= n) {
      this.log.info(`generation ${settled.generation} began at the same time; joining it`);
      return settled;
    }
    this.log.info(
      `starting generation ${n} of the pipeline (${reason}): ${epoch === null ? 'every role rebuilds from the sources' : `every role resumes from checkpoint ${epoch}`}`,
    );
    return { generation: n, id: json.id, epoch, floor };
  }

  /** Resolves with the next generation once the current one is no longer `current`; never on `signal`. */
  changed(current: Generation, signal: AbortSignal): Promise<Generation> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        this.read().then(
          (g) => {
            if (g && g.id !== current.id && !signal.aborted) {
              clearInterval(timer);
              resolve(g);
            }
          },
          () => {},
        );
      }, this.pollMs);
      signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    });
  }

  /** The generation after `current`, if one starts within `ms`. */
  async waitForChange(current: Generation, ms: number): Promise<Generation | undefined> {
    const abort = new AbortController();
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), ms));
    try {
      return await Promise.race([this.changed(current, abort.signal), timeout]);
    } finally {
      abort.abort();
    }
  }
}

/** A participant's share of one epoch's checkpoint (JSON), or why it cannot take part. */
interface PartJson {
  version: 1;
  ok: boolean;
  error?: string;
  sources?: Record<string, string>;
  operators?: Record<
    string,
    Array<{ key: string; kind: string; epoch: string; bytes: number; sha256: string }>
  >;
  storeEpoch?: string;
}

const partPrefix = (g: Generation, epoch: bigint) => `${SPLIT_PREFIX}/${g.id}/part/${epoch}/`;

/** Writes a participant's part of `epoch` (`error` set: the epoch cannot complete). */
export async function writePart(
  objects: ObjectStore,
  generation: Generation,
  epoch: bigint,
  participant: string,
  part: {
    sources?: ReadonlyMap<string, SourcePosition>;
    operators?: ReadonlyMap<string, readonly StateObjectRef[]>;
    storeEpoch?: bigint;
    error?: string;
  },
): Promise<void> {
  const json: PartJson = {
    version: 1,
    ok: part.error === undefined,
    ...(part.error === undefined ? {} : { error: part.error }),
    ...(part.sources ? { sources: Object.fromEntries(part.sources) } : {}),
    ...(part.operators
      ? {
          operators: Object.fromEntries(
            [...part.operators].map(([id, refs]) => [
              id,
              refs.map((r) => ({
                key: r.key,
                kind: r.kind,
                epoch: r.epoch.toString(),
                bytes: r.bytes,
                sha256: r.sha256,
              })),
            ]),
          ),
        }
      : {}),
    ...(part.storeEpoch === undefined ? {} : { storeEpoch: part.storeEpoch.toString() }),
  };
  await objects.put(
    `${partPrefix(generation, epoch)}${participant}`,
    new TextEncoder().encode(JSON.stringify(json)),
  );
}

/** Records a processor's state of an epoch under operator ids of its own, with its pipeline record (NOW()). */
export function processorCheckpointStore(store: CheckpointStore, node: string): CheckpointStore {
  const prefix = processorOperatorPrefix(node);
  return {
    ...store,
    writeState: (id, encoded, options) => store.writeState(`${prefix}${id}`, encoded, options),
    writeBlob: (id, epoch, bytes) => store.writeBlob(`${prefix}${id}`, epoch, bytes),
    readChain: (id, refs) => store.readChain(`${prefix}${id}`, refs),
  };
}

/** A processor's view of a loaded checkpoint: its own operators under their unprefixed ids. */
export function processorCheckpointView(loaded: LoadedCheckpoint, node: string): LoadedCheckpoint {
  const prefix = processorOperatorPrefix(node);
  return {
    manifest: loaded.manifest,
    rejected: loaded.rejected,
    state: (id) => loaded.state(`${prefix}${id}`),
    blob: (id) => loaded.blob(`${prefix}${id}`),
  };
}

/**
 * What a processor writes at an aligned barrier: its SQL state under its own
 * operator ids, its pipeline record (NOW()), then its part.
 */
export function processorCheckpointHooks(options: {
  objects: ObjectStore;
  checkpoints: CheckpointStore;
  generation: Generation;
  node: string;
  fingerprint: string;
  now: Timestamp;
  /** The sources it takes as exact (no normalizer state), recorded for {@link processorRecovery}. */
  exactSources: ReadonlySet<string>;
  log: Logger;
}) {
  const { objects, checkpoints, generation, node, log } = options;
  const prefix = processorOperatorPrefix(node);
  const participant = processorParticipant(node);
  const record = encodePipelineRecord(options.fingerprint, options.now, options.exactSources);
  const report = (p: Promise<void>, epoch: bigint) =>
    p.catch((e: unknown) =>
      log.warn(`checkpoint ${epoch}: writing this processor's part failed: ${(e as Error).message}`),
    );
  return {
    store: processorCheckpointStore(checkpoints, node),
    onState(epoch: bigint, operators: Map<string, readonly StateObjectRef[]>) {
      void report(
        (async () => {
          const all = new Map<string, readonly StateObjectRef[]>();
          for (const [id, refs] of operators) all.set(`${prefix}${id}`, refs);
          all.set(
            `${prefix}${PIPELINE_OPERATOR}`,
            await checkpoints.writeBlob(`${prefix}${PIPELINE_OPERATOR}`, epoch, record),
          );
          await writePart(objects, generation, epoch, participant, { operators: all });
        })(),
        epoch,
      );
    },
    onStateFailed(epoch: bigint, error: unknown) {
      void report(
        writePart(objects, generation, epoch, participant, {
          error: (error as Error)?.message ?? String(error),
        }),
        epoch,
      );
    },
  };
}

/** What a processor continues from: its state in the generation's checkpoint, and its NOW(). */
export async function processorRecovery(
  checkpoints: CheckpointStore,
  generation: Generation,
  node: string,
  fingerprint: string,
  exactSources: ReadonlySet<string>,
): Promise<{ restore: LoadedCheckpoint; now: Timestamp }> {
  const loaded = await checkpoints.load(generation.epoch!);
  const record = readPipelineRecord(loaded, `${processorOperatorPrefix(node)}${PIPELINE_OPERATOR}`);
  if (record.fingerprint !== fingerprint) {
    throw new Error(
      `checkpoint ${generation.epoch} was written for another dozer.yaml (${record.fingerprint}, not ${fingerprint})`,
    );
  }
  // A source normalized now but taken as exact then has no normalizer state in the checkpoint.
  const then = record.exact ?? [];
  const now = [...exactSources].sort();
  if (then.join('\u0000') !== now.join('\u0000')) {
    const list = (names: readonly string[]) => (names.length > 0 ? names.join(', ') : 'none');
    throw new Error(
      `checkpoint ${generation.epoch} took other sources' changes as exact (${list(then)}; now: ${list(now)}), so its state does not fit`,
    );
  }
  return { restore: processorCheckpointView(loaded, node), now: new Timestamp(BigInt(record.now)) };
}

/** Where an ingestor's sources continue from in the generation's checkpoint. */
export async function ingestorRecovery(
  checkpoints: CheckpointStore,
  generation: Generation,
  sources: readonly string[],
  fingerprint: string,
): Promise<Map<string, SourcePosition>> {
  const loaded = await checkpoints.load(generation.epoch!);
  const record = readPipelineRecord(loaded, PIPELINE_OPERATOR);
  if (record.fingerprint !== fingerprint) {
    throw new Error(`checkpoint ${generation.epoch} was written for another dozer.yaml`);
  }
  const positions = new Map<string, SourcePosition>();
  for (const s of sources) {
    const p = loaded.manifest.sources.get(s);
    if (p === undefined) throw new Error(`checkpoint ${generation.epoch} has no position of source "${s}"`);
    positions.set(s, p);
  }
  return positions;
}

/**
 * The API role's store for a generation: rolled back to its checkpoint, or,
 * in a rebuilding generation, with every epoch mark forgotten (the rows are
 * reset when the endpoints open). Throws when the store cannot return to
 * the checkpoint.
 */
export async function prepareApiStore(store: Store, generation: Generation): Promise<void> {
  if (generation.epoch === null) {
    const last = store.epoch();
    if (last !== null) await store.releaseEpochsBefore(last + 1n);
    return;
  }
  if (!store.epochs().includes(generation.epoch)) {
    throw new Error(
      `the store cannot return to epoch ${generation.epoch} (it can return to ${store.epochs().join(', ') || 'no epoch'})`,
    );
  }
  await store.rollbackTo(generation.epoch);
}

/** The API role's checkpoint hooks: its part once the store marked the epoch; store epochs no kept checkpoint needs are released. */
export function startApiCheckpoints(options: {
  objects: ObjectStore;
  checkpoints: CheckpointStore;
  generation: Generation;
  store: Store;
  log: Logger;
}) {
  const { objects, checkpoints, generation, store, log } = options;
  const report = (p: Promise<void>, epoch: bigint) =>
    p.catch((e: unknown) =>
      log.warn(`checkpoint ${epoch}: writing the API's part failed: ${(e as Error).message}`),
    );
  let oldestKept = 0n;
  let closed = false;
  const timer = setInterval(() => {
    checkpoints.list().then(
      async (listed) => {
        const oldest = listed[0];
        if (closed || oldest === undefined || oldest <= oldestKept) return;
        oldestKept = oldest;
        await store.releaseEpochsBefore(oldest);
      },
      () => {},
    );
  }, 2000);
  timer.unref();
  return {
    hooks: {
      onStoreEpoch: (epoch: bigint) =>
        void report(writePart(objects, generation, epoch, API_PARTICIPANT, { storeEpoch: epoch }), epoch),
      onStoreEpochFailed: (epoch: bigint, error: unknown) =>
        void report(
          writePart(objects, generation, epoch, API_PARTICIPANT, {
            error: (error as Error)?.message ?? String(error),
          }),
          epoch,
        ),
    },
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

/**
 * Drives an ingestor's part in the checkpoints of a generation. The
 * coordinator (the first ingestor node) triggers an epoch every
 * `checkpoint.interval_ms` when something changed and its sources can
 * resume, injects its barrier, collects every participant's part and
 * commits the manifest; the others inject the barriers of the triggers they
 * see. Every ingestor acknowledges its sources' positions once a manifest
 * covers them.
 */
export function startIngestorCheckpoints(options: {
  objects: ObjectStore;
  checkpoints: CheckpointStore;
  generation: Generation;
  /** The whole config (every node), for the participants. */
  config: DozerConfig;
  node: string;
  coordinator: boolean;
  ingestor: RunningIngestor;
  fingerprint: string;
  log: Logger;
}): { health(): { [key: string]: JsonValue }; close(): Promise<void> } {
  const { objects, checkpoints, generation, config, ingestor, log } = options;
  const participant = ingestorParticipant(options.node);
  const participants = splitParticipants(config);
  const genDir = `${SPLIT_PREFIX}/${generation.id}`;
  const interval = config.checkpoint.interval_ms;
  const timeoutMs = Math.max(120_000, interval * 20);
  const record = encodePipelineRecord(options.fingerprint, Timestamp.now());
  /** Positions this ingestor reported, by epoch, until a manifest covers them. */
  const reported = new Map<bigint, Map<string, SourcePosition>>();
  let lastEpoch = firstEpochOf(generation) - 1n;
  let lastTriggerAt = Date.now();
  let inFlight: { epoch: bigint; at: number } | undefined;
  let markedChange = false;
  let markedReady = false;
  const followers = config.nodes.ingestors.length - 1;
  let acked = 0n;
  let complete = 0;
  let closed = false;

  const inject = async (epoch: bigint): Promise<void> => {
    const positions = ingestor.barrier(epoch);
    markedChange = false;
    if (positions === undefined) {
      await writePart(objects, generation, epoch, participant, {
        error: 'a source is still in its initial snapshot',
      });
      return;
    }
    reported.set(epoch, positions);
    const operators = new Map<string, readonly StateObjectRef[]>();
    if (options.coordinator)
      operators.set(PIPELINE_OPERATOR, await checkpoints.writeBlob(PIPELINE_OPERATOR, epoch, record));
    await writePart(objects, generation, epoch, participant, { sources: positions, operators });
  };

  const abandon = async (epoch: bigint, why: string) => {
    inFlight = undefined;
    log.warn(`checkpoint ${epoch} abandoned: ${why}`);
    await deleteKeys(objects, await objects.list(partPrefix(generation, epoch)));
  };

  const collect = async (epoch: bigint): Promise<void> => {
    const keys = await objects.list(partPrefix(generation, epoch));
    const parts = new Map<string, PartJson>();
    for (const k of keys) {
      const who = k.slice(partPrefix(generation, epoch).length);
      parts.set(who, JSON.parse(new TextDecoder().decode(await objects.get(k))) as PartJson);
    }
    for (const [who, p] of parts) {
      if (!p.ok) return abandon(epoch, `${who}: ${p.error ?? 'failed'}`);
    }
    if (!participants.every((p) => parts.has(p))) {
      if (Date.now() - inFlight!.at > timeoutMs) {
        const missing = participants.filter((p) => !parts.has(p));
        return abandon(epoch, `no part from ${missing.join(', ')} within ${timeoutMs / 1000} s`);
      }
      return;
    }
    const sources = new Map<string, SourcePosition>();
    const operators = new Map<string, StateObjectRef[]>();
    let storeEpoch: bigint | null = null;
    for (const p of parts.values()) {
      for (const [s, pos] of Object.entries(p.sources ?? {})) sources.set(s, pos);
      for (const [id, refs] of Object.entries(p.operators ?? {})) {
        operators.set(
          id,
          refs.map((r) => ({ ...r, kind: r.kind as StateObjectRef['kind'], epoch: BigInt(r.epoch) })),
        );
      }
      if (p.storeEpoch !== undefined) storeEpoch = BigInt(p.storeEpoch);
    }
    // A generation that began meanwhile chose its checkpoint already: one of the old generation
    // committed after that would be newer than the one the store was rolled back to.
    const now = await readGeneration(objects);
    if (now?.id !== generation.id) return;
    await checkpoints.commit({ epoch, createdAt: new Date(), storeEpoch, sources, operators });
    inFlight = undefined;
    complete++;
    if (complete === 1) {
      log.info(
        `checkpoint ${epoch} complete in ${Date.now() - lastTriggerAt} ms; a restart of any role resumes from the newest one (every ${interval} ms)`,
      );
    }
    await checkpoints.retain(config.checkpoint.retain);
    const done = (await objects.list(`${genDir}/`)).filter((k) => {
      const e = epochsIn([k])[0];
      return e !== undefined && e <= epoch;
    });
    await deleteKeys(objects, done);
  };

  const coordinate = async (): Promise<void> => {
    if (inFlight) return collect(inFlight.epoch);
    if (Date.now() - lastTriggerAt < interval || !ingestor.resumable) return;
    // Every ingestor injects every epoch's barrier (a processor aligns it across ingestors), so
    // none may be triggered before each can resume from where it is.
    if (followers > 0 && (await objects.list(`${genDir}/ready/`)).length < followers) return;
    const marks = await objects.list(`${genDir}/changed/`);
    if (!ingestor.changedSinceBarrier && marks.length === 0) return;
    await deleteKeys(objects, marks);
    const epoch = maxOf(await checkpoints.list(), lastEpoch) + 1n;
    lastEpoch = epoch;
    lastTriggerAt = Date.now();
    inFlight = { epoch, at: lastTriggerAt };
    await objects.put(`${genDir}/trigger/${epoch}`, new Uint8Array());
    await inject(epoch);
  };

  const follow = async (): Promise<void> => {
    if (!markedReady && ingestor.resumable) {
      markedReady = true;
      await objects.put(`${genDir}/ready/${options.node}`, new Uint8Array());
    }
    const triggers = epochsIn(await objects.list(`${genDir}/trigger/`))
      .filter((e) => e > lastEpoch)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const epoch of triggers) {
      lastEpoch = epoch;
      await inject(epoch);
    }
    if (ingestor.changedSinceBarrier && !markedChange) {
      markedChange = true;
      await objects.put(`${genDir}/changed/${options.node}`, new Uint8Array());
    }
  };

  const acknowledge = async (): Promise<void> => {
    if (reported.size === 0) return;
    const newest = maxOf(await checkpoints.list());
    if (newest <= acked) return;
    let best: bigint | undefined;
    for (const e of reported.keys()) if (e <= newest && (best === undefined || e > best)) best = e;
    if (best === undefined) return;
    acked = newest;
    for (const [source, position] of reported.get(best)!) ingestor.acknowledge(source, position);
    for (const e of [...reported.keys()]) if (e <= best) reported.delete(e);
  };

  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running
      .then(async () => {
        if (closed) return;
        await (options.coordinator ? coordinate() : follow());
        await acknowledge();
      })
      .catch((e: unknown) => {
        if (!closed) log.warn(`checkpoints: ${(e as Error).message}`);
      });
  }, splitPollMs(config));
  timer.unref();

  const first = firstEpochOf(generation) - 1n;
  return {
    // What this ingestor knows: the last barrier it injected, the newest checkpoint whose positions
    // it acknowledged to its sources, and (the coordinator) the checkpoints it completed.
    health: () => ({
      coordinator: options.coordinator,
      last_barrier: lastEpoch === first ? null : Number(lastEpoch),
      acknowledged: acked === 0n ? null : Number(acked),
      ...(options.coordinator ? { complete, in_flight: inFlight ? Number(inFlight.epoch) : null } : {}),
    }),
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * A rebuilding generation makes the checkpoints useless (the store no longer
 * matches them): the coordinator deletes them, keeping the coordination objects.
 */
export async function discardSplitCheckpoints(objects: ObjectStore): Promise<void> {
  await deleteKeys(objects, [
    ...(await objects.list(`${CHECKPOINT_PREFIX}/manifests/`)),
    ...(await objects.list(`${CHECKPOINT_PREFIX}/state/`)),
  ]);
}

/** Deletes the coordination objects of generations other than `current`. */
export async function deleteOtherGenerations(objects: ObjectStore, current: Generation): Promise<void> {
  const keys = (await objects.list(`${SPLIT_PREFIX}/`)).filter(
    (k) => k !== GENERATION_KEY && !k.startsWith(`${SPLIT_PREFIX}/${current.id}/`),
  );
  await deleteKeys(objects, keys);
}

/** A role cannot continue from its generation's checkpoint: the pipeline rebuilds. */
export class CheckpointUnusableError extends Error {
  override name = 'CheckpointUnusableError';
}
