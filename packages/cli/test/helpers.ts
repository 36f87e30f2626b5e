import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = path.join(REPO_ROOT, 'packages/cli/src/main.ts');

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  // The kernel may hand the port it just freed out again: a test asking for a REST and a gRPC
  // port in a row once got the same one twice. A port is given once per process.
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    if (!givenPorts.has(port)) {
      givenPorts.add(port);
      return port;
    }
  }
}
const givenPorts = new Set<number>();

/** `dozer <args>` from source, as a child process, with its output collected. */
export interface DozerProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout or stderr contains `text`; rejects if the process exits first or after `ms`. */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function spawnDozer(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): DozerProcess {
  const child = spawn(process.execPath, ['--conditions=@dozer/source', '--import', 'tsx', MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d) => {
    out += d;
    for (const w of waiters) w();
  });
  const logFile = process.env.DOZER_E2E_LOG;
  child.stderr!.on('data', (d) => {
    if (logFile) fs.appendFileSync(logFile, d);
    err += d;
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(text, ms = 60_000) {
      const seen = () => (typeof text === 'string' ? (out + err).includes(text) : text.test(out + err));
      return new Promise((resolve, reject) => {
        if (seen()) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${text}\nstdout:\n${out}\nstderr:\n${err}`)),
          ms,
        );
        waiters.push(() => {
          if (seen()) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((code) => {
          if (!seen()) {
            clearTimeout(timer);
            reject(
              new Error(`dozer exited (${code}) before printing ${text}\nstdout:\n${out}\nstderr:\n${err}`),
            );
          }
        });
      });
    },
  };
}

/** Runs `dozer <args>` to completion. */
export async function runDozer(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const p = spawnDozer(args, options);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export function postJson(url: string, body: unknown) {
  return getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Polls `check` every 100 ms until it returns true or `ms` pass. */
export async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Writes `text` to `dir/rel` the way the object_store connector's docs ask:
 * under a hidden name first, then renamed into place, so that a poll never
 * sees half a file.
 */
export function dropFile(dir: string, rel: string, text: string): void {
  const target = path.join(dir, rel);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, target);
}

/** One table of the local object_store connection `lakeYaml` writes. */
export interface LakeTable {
  /** The table's name; its files are under `<name>/` in the directory. */
  name: string;
  /** The file glob, e.g. `*.csv`; the format is its extension (csv, jsonl, parquet). */
  pattern: string;
  /**
   * Column name → type: `int`, `string`, `decimal(12,2)`…; a trailing `!`
   * makes the column not nullable. Without columns the format's own schema
   * (JSON fields, Parquet) is used.
   */
  columns?: Record<string, string>;
  primaryKey?: string[];
  /** Further keys of the table (`poll_interval_ms`, `batch_size`, `on_error`…), values written as YAML. */
  options?: Record<string, string | number>;
}

const column = (name: string, spec: string): string => {
  const notNull = spec.endsWith('!');
  const type = notNull ? spec.slice(0, -1) : spec;
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
  const typed = decimal ? `type: decimal, precision: ${decimal[1]}, scale: ${decimal[2]}` : `type: ${type}`;
  return `              - { name: ${name}, ${typed}${notNull ? ', nullable: false' : ''} }\n`;
};

/**
 * The `connections:` and `sources:` sections of a config reading `tables`
 * from the local directory `data` through one object_store connection named
 * `lake`; each table is a source of the same name.
 */
export function lakeYaml(data: string, tables: LakeTable[]): string {
  const tableYaml = (t: LakeTable): string => {
    let out = `        - name: ${t.name}
          prefix: ${t.name}/
          pattern: ${JSON.stringify(t.pattern)}
          format: ${path.extname(t.pattern).slice(1)}
`;
    for (const [key, value] of Object.entries(t.options ?? {})) out += `          ${key}: ${value}\n`;
    if (t.columns) {
      out += '          schema:\n            columns:\n';
      for (const [name, spec] of Object.entries(t.columns)) out += column(name, spec);
      if (t.primaryKey) out += `            primary_key: [${t.primaryKey.join(', ')}]\n`;
    }
    return out;
  };
  return `connections:
  - name: lake
    kind: object_store
    config:
      storage: { kind: local, path: ${JSON.stringify(data)} }
      tables:
${tables.map(tableYaml).join('')}sources:
${tables.map((t) => `  - { name: ${t.name}, connection: lake, table_name: ${t.name} }\n`).join('')}`;
}
