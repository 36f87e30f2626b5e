// pnpm bench <name> [args…]: runs packages/*/bench/<name>.bench.ts or bench/<name>.bench.ts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every bench file by name: `store` for packages/store/bench/store.bench.ts. */
function benches(): Map<string, string> {
  const found = new Map<string, string>();
  const scan = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.bench.ts')) found.set(f.slice(0, -'.bench.ts'.length), join(dir, f));
    }
  };
  scan(join(root, 'bench'));
  for (const pkg of readdirSync(join(root, 'packages'))) scan(join(root, 'packages', pkg, 'bench'));
  return found;
}

const [name, ...args] = process.argv.slice(2);
const all = benches();
const file = name === undefined ? undefined : all.get(name);
if (file === undefined) {
  const list = [...all.keys()].sort().join(', ') || '(none)';
  console.error(
    name === undefined
      ? `usage: pnpm bench <name> [args…]; benchmarks: ${list}`
      : `unknown benchmark "${name}"; benchmarks: ${list}`,
  );
  process.exit(2);
}
process.argv = [process.argv[0]!, file, ...args];
await import(pathToFileURL(file).href);
