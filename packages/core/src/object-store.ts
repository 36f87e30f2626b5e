import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DozerError, type DozerErrorOptions, ErrorCode } from './errors.js';

/**
 * Immutable blobs under `/`-separated keys: queue segments, snapshots,
 * checkpoint manifests. Implementations: a local directory
 * ({@link createLocalObjectStore}) and S3 (in `@dozer/queue`).
 *
 * Keys are relative paths such as `segments/orders/00000000000000000042.seg`:
 * non-empty segments separated by single `/`, no leading or trailing `/`, no
 * segment starting with `.` (so no `.` or `..`, and the local store can keep
 * its temporary files out of the key space), no `\`, and no control
 * characters. See {@link validateObjectKey}.
 *
 * A key is either an object or a prefix of other keys, never both: the local
 * store keeps objects as files, so `a/b` cannot be written while `a` exists.
 */
export interface ObjectStore {
  /** Writes `bytes` under `key`, replacing any object there, atomically: readers see the old or the new object, never a part. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Reads the object under `key`; throws {@link ObjectNotFoundError} when there is none. */
  get(key: string): Promise<Uint8Array>;
  /**
   * Keys that start with `prefix` (a plain string prefix, as in S3: `seg/a`
   * matches `seg/a/1` and `seg/ab`), sorted by UTF-16 code unit order. `''`
   * lists every key.
   */
  list(prefix: string): Promise<string[]>;
  /** Removes the object under `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** True when an object exists under `key`. */
  exists(key: string): Promise<boolean>;
}

/** The object store failed: an I/O error, or a bad key. Code `OBJECT_STORE`. */
export class ObjectStoreError extends DozerError {
  override name = 'ObjectStoreError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.ObjectStore, message, options);
  }
}

/** `get` of a key with no object. Code `OBJECT_STORE`; `key` is the missing key. */
export class ObjectNotFoundError extends ObjectStoreError {
  override name = 'ObjectNotFoundError';
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`object "${key}" not found in ${where}`);
  }
}

/** True for an {@link ObjectNotFoundError} (also across module copies). */
export function isObjectNotFound(e: unknown): e is ObjectNotFoundError {
  return e instanceof ObjectNotFoundError || (e instanceof Error && e.name === 'ObjectNotFoundError');
}

/**
 * Throws {@link ObjectStoreError} unless `key` is a valid object key (see
 * {@link ObjectStore}). Every implementation checks keys with this, so a key
 * that works on the local store works on S3 and back.
 */
export function validateObjectKey(key: string): void {
  const problem = keyProblem(key, false);
  if (problem !== undefined)
    throw new ObjectStoreError(`invalid object key ${JSON.stringify(key)}: ${problem}`);
}

/** Like {@link validateObjectKey} for a `list` prefix, which may be empty, end with `/` or end mid-segment. */
export function validateObjectPrefix(prefix: string): void {
  const problem = keyProblem(prefix, true);
  if (problem !== undefined) {
    throw new ObjectStoreError(`invalid object key prefix ${JSON.stringify(prefix)}: ${problem}`);
  }
}

const KEY_RULES = 'keys are relative paths like "segments/orders/0001.seg"';

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (typeof key !== 'string') return `expected a string; ${KEY_RULES}`;
  if (key === '') return isPrefix ? undefined : `it is empty; ${KEY_RULES}`;
  if (key.startsWith('/')) return `it is an absolute path; ${KEY_RULES}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\\\u0000-\u001f\u007f]/.test(key)) return `it contains "\\" or a control character; ${KEY_RULES}`;
  const segments = key.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '') {
      if (isPrefix && last) continue;
      return `it has an empty segment (a leading, trailing or doubled "/"); ${KEY_RULES}`;
    }
    if (s.startsWith('.')) {
      return s === '.' || s === '..'
        ? `segment "${s}" is not allowed; ${KEY_RULES}`
        : `segment "${s}" starts with "." (reserved for temporary files); ${KEY_RULES}`;
    }
  }
  return undefined;
}

/**
 * An {@link ObjectStore} on a local directory: the object `a/b/c` is the file
 * `<dir>/a/b/c`. The directory is created on the first `put`.
 *
 * `put` writes a temporary file beside the target (`.<name>.<random>.tmp`),
 * fsyncs it, renames it over the target and fsyncs the directory, so after a
 * crash the key holds the old or the new object in full. `delete` removes
 * directories it leaves empty.
 */
export function createLocalObjectStore(dir: string): ObjectStore {
  const root = resolve(dir);
  const where = `the local object store at ${root}`;
  const pathOf = (key: string) => join(root, ...key.split('/'));
  const fail = (action: string, key: string, e: unknown) =>
    new ObjectStoreError(`cannot ${action} "${key}" in ${where}: ${(e as Error).message ?? String(e)}`, {
      cause: e,
    });

  async function writeAtomically(key: string, bytes: Uint8Array): Promise<void> {
    const target = pathOf(key);
    const parent = dirname(target);
    const segments = key.split('/');
    const tmp = join(parent, `.${segments[segments.length - 1]}.${randomBytes(6).toString('hex')}.tmp`);
    await mkdir(parent, { recursive: true });
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    try {
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await syncDir(parent);
  }

  return {
    async put(key, bytes) {
      validateObjectKey(key);
      try {
        await writeAtomically(key, bytes);
      } catch (e) {
        const code = errnoCode(e);
        // A concurrent delete may remove the (empty) parent directory between
        // our mkdir and open; one retry recreates it.
        if (code === 'ENOENT') {
          try {
            await writeAtomically(key, bytes);
            return;
          } catch (e2) {
            throw fail('write', key, e2);
          }
        }
        if (code === 'ENOTDIR' || code === 'EEXIST') {
          throw new ObjectStoreError(
            `cannot write "${key}" in ${where}: a prefix of the key is already an object; ` +
              'a key cannot be both an object and a prefix of other keys',
            { cause: e },
          );
        }
        if (code === 'EISDIR') {
          throw new ObjectStoreError(
            `cannot write "${key}" in ${where}: other objects are stored under "${key}/"; ` +
              'a key cannot be both an object and a prefix of other keys',
            { cause: e },
          );
        }
        throw fail('write', key, e);
      }
    },

    async get(key) {
      validateObjectKey(key);
      try {
        const buf = await readFile(pathOf(key));
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR')
          throw new ObjectNotFoundError(key, where);
        throw fail('read', key, e);
      }
    },

    async list(prefix) {
      validateObjectPrefix(prefix);
      // Walk only the deepest directory the prefix fully names.
      const cut = prefix.lastIndexOf('/');
      const base = cut < 0 ? '' : prefix.slice(0, cut);
      const keys: string[] = [];
      try {
        await walk(base === '' ? root : pathOf(base), base, prefix, keys);
      } catch (e) {
        throw fail('list', prefix, e);
      }
      return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },

    async delete(key) {
      validateObjectKey(key);
      const path = pathOf(key);
      try {
        await unlink(path);
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        if (code === 'EISDIR' || code === 'EPERM') {
          // EPERM is what Linux reports for unlink of a directory.
          const st = await stat(path).catch(() => undefined);
          if (st?.isDirectory()) return;
        }
        throw fail('delete', key, e);
      }
      // Remove emptied parents so that stores of many short-lived prefixes
      // (one per checkpoint) do not pile up empty directories.
      for (let d = dirname(path); d !== root && d.startsWith(root); d = dirname(d)) {
        try {
          await rmdir(d);
        } catch {
          break;
        }
      }
    },

    async exists(key) {
      validateObjectKey(key);
      try {
        return (await stat(pathOf(key))).isFile();
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'ENOTDIR') return false;
        throw fail('check', key, e);
      }
    },
  };
}

async function walk(dir: string, keyPrefix: string, want: string, out: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw e;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`;
    if (entry.isDirectory()) {
      // Descend only where keys can still match the prefix.
      const asPrefix = `${key}/`;
      if (asPrefix.startsWith(want) || want.startsWith(asPrefix))
        await walk(join(dir, entry.name), key, want, out);
    } else if (entry.isFile() && key.startsWith(want)) {
      out.push(key);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e
    ? String((e as { code: unknown }).code)
    : undefined;
}
