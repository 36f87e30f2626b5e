import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { ConfigError } from '../errors.js';

/**
 * Starts a worker thread on an entry module of a Dozer package, given as
 * the URL of its TypeScript source when the caller runs from its sources
 * (tests, `pnpm bench`) or of its built `.js` file. A `.ts` entry is loaded
 * through tsx with the `@dozer/source` condition, so that the workspace
 * packages it imports load from their sources as well; `what` names the
 * thread's owner in the error given when tsx is missing.
 */
export function spawnModuleWorker(entry: URL, what: string, options: WorkerOptions = {}): Worker {
  if (!entry.href.endsWith('.ts')) return new Worker(entry, options);
  let api: string;
  try {
    // The ESM entry of tsx's API (its CommonJS one cannot register from an eval'd worker).
    const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
      exports: Record<string, { import: { default: string } }>;
    };
    api = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
  } catch (e) {
    throw new ConfigError(
      `${what} is running from its TypeScript sources, so its worker threads need tsx (install it in the workspace), or build the packages`,
      { cause: e },
    );
  }
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, {
    ...options,
    eval: true,
    execArgv: [...(options.execArgv ?? []), '--conditions=@dozer/source'],
  });
}
