// Entry of a connector thread: runs one connection's connector and hands its batches, encoded,
// to the engine's thread (see connector-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import {
  type Connector,
  ConnectorError,
  type ConnectorLogger,
  loadConnectorFactory,
  projectTable,
  type TableInfo,
  type TableRequest,
} from '@dozer/connectors';
import { deserializeError, encodeBatch, type Schema, serializeError } from '@dozer/core';
import type { ConnectorThreadInit, FromConnectorThread, ToConnectorThread } from './connector-protocol.js';

const init = workerData as ConnectorThreadInit;
const port = parentPort!;
const post = (m: FromConnectorThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

const log =
  (level: 'debug' | 'info' | 'warn' | 'error') =>
  (message: string, fields?: Readonly<Record<string, unknown>>): void => {
    try {
      post({ t: 'log', level, message, ...(fields === undefined ? {} : { fields }) });
    } catch {
      // Fields that cannot cross threads (functions, sockets) go as text.
      const text: Record<string, string> = {};
      for (const [k, v] of Object.entries(fields ?? {})) text[k] = String(v);
      post({ t: 'log', level, message, fields: text });
    }
  };
const logger: ConnectorLogger = {
  debug: log('debug'),
  info: log('info'),
  warn: log('warn'),
  error: log('error'),
};

const opened: Promise<Connector> = loadConnectorFactory(init.origin).then((f) =>
  f.create(init.config, {
    name: init.name,
    logger,
    ...(init.baseDir === undefined ? {} : { baseDir: init.baseDir }),
  }),
);
opened.catch(() => {}); // reported to every call

let tables: TableInfo[] | undefined;
const abort = new AbortController();
/** Writes and snapshot ends handed over and not yet taken by the engine, by id. */
const handedOver = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let nextId = 1;
/** Why the engine could not take a batch: every later write fails with it. */
let sinkFailure: Error | undefined;

function handOver(m: FromConnectorThread & { id: number }, transfer?: ArrayBuffer[]): Promise<void> {
  const taken = new Promise<void>((resolve, reject) => handedOver.set(m.id, { resolve, reject }));
  post(m, transfer);
  return taken;
}

async function start(requests: readonly TableRequest[]): Promise<void> {
  const connector = await opened;
  tables ??= await connector.listTables();
  const schemas = new Map<string, Schema>();
  for (const r of requests) {
    const info = tables.find((t) => t.name === r.name);
    // The connector reports an unknown table itself, as it would on the engine's thread.
    if (info !== undefined) schemas.set(r.name, projectTable(info, r.columns).schema);
  }
  // Batches handed over and not yet taken, oldest first: at most `window` of them.
  const inFlight: Promise<void>[] = [];
  await connector.start({
    tables: requests,
    signal: abort.signal,
    sink: {
      async write(batch) {
        if (sinkFailure) throw sinkFailure;
        const schema = schemas.get(batch.table);
        if (schema === undefined) {
          throw new ConnectorError(
            `connection "${init.name}": its connector wrote a batch of table "${batch.table}", which was not requested`,
          );
        }
        const bytes = encodeBatch(schema, batch);
        const { table, position } = batch;
        const taken = handOver(
          { t: 'write', id: nextId++, table, position, opCount: batch.ops.length, bytes },
          [bytes.buffer as ArrayBuffer],
        );
        taken.catch(() => {}); // awaited below, or reported by a later write
        inFlight.push(taken);
        while (inFlight.length >= init.window) await inFlight.shift();
      },
      async snapshotDone(table, position) {
        if (sinkFailure) throw sinkFailure;
        // Taken after every batch before it.
        await handOver({ t: 'snapshotDone', id: nextId++, table, position });
      },
    },
  });
  // `start` resolves once the engine has taken everything it wrote.
  await Promise.all(inFlight);
}

async function call(m: Extract<ToConnectorThread, { t: 'call' }>): Promise<TableInfo[] | LagValue> {
  const connector = await opened;
  switch (m.m) {
    case 'listTables':
      tables = await connector.listTables();
      return tables;
    case 'start':
      await start(m.tables);
      return undefined;
    case 'acknowledge':
      await connector.acknowledge?.(m.table, m.position);
      return undefined;
    case 'lag':
      return connector.lag ? await connector.lag() : undefined;
    case 'close':
      abort.abort();
      await connector.close();
      return undefined;
  }
}
type LagValue = Awaited<ReturnType<NonNullable<Connector['lag']>>> | undefined;

port.on('message', (m: ToConnectorThread) => {
  switch (m.t) {
    case 'call':
      call(m).then(
        (value) => post(value === undefined ? { t: 'reply', id: m.id } : { t: 'reply', id: m.id, value }),
        (e: unknown) => post({ t: 'reply', id: m.id, error: serializeError(e) }),
      );
      break;
    case 'abort':
      abort.abort();
      break;
    case 'taken': {
      const waiter = handedOver.get(m.id);
      handedOver.delete(m.id);
      if (m.error === undefined) waiter?.resolve();
      else {
        sinkFailure ??= deserializeError(m.error);
        waiter?.reject(sinkFailure);
      }
      break;
    }
  }
});
