#!/usr/bin/env node
// Enforces the package layering of ARCHITECTURE.md:
// - a package imports only the @dozer packages below it in the table
//   (and declares each of them in package.json),
// - nothing imports @dozer/cli, and there are no cycles,
// - no file reaches into another package by a relative path or through
//   `@dozer/x/src/...` / `@dozer/x/internal/...` (tests may import the
//   repo-wide test helpers in test/support/),
// Exits 1 and lists every violation with file and line.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What each package may import (ARCHITECTURE.md, "Packages"). */
export const ALLOWED = {
  core: [],
  connectors: ['core'],
  queue: ['core'],
  sql: ['core'],
  snapshot: ['core'],
  store: ['core'],
  api: ['core', 'store'],
  cli: ['core', 'connectors', 'queue', 'sql', 'snapshot', 'store', 'api'],
};

const IMPORT_RE =
  /(?:^|[^.\w])(?:import|export)\s*(?:type\s+)?(?:[^'"]*?\sfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function* walk(dir, top = true) {
  if (!fs.existsSync(dir)) return;
  // A nested folder with its own package.json is another package (a test
  // fixture plugin, say): it imports us by name like any user would.
  if (!top && fs.existsSync(path.join(dir, 'package.json'))) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p, false);
    else if (/\.(m?[jt]s|tsx)$/.test(e.name)) yield p;
  }
}

function lineOf(text, index) {
  return text.slice(0, index).split('\n').length;
}

export function checkLayering(repoRoot = root) {
  const problems = [];
  const units = [];
  for (const name of Object.keys(ALLOWED))
    units.push({ name, dir: path.join(repoRoot, 'packages', name), allowed: ALLOWED[name] });
  const appsDir = path.join(repoRoot, 'apps');
  if (fs.existsSync(appsDir)) {
    for (const e of fs.readdirSync(appsDir, { withFileTypes: true })) {
      if (e.isDirectory())
        units.push({
          name: `apps/${e.name}`,
          dir: path.join(appsDir, e.name),
          allowed: Object.keys(ALLOWED),
          app: true,
        });
    }
  }
  for (const unit of units) {
    const pkgJsonPath = path.join(unit.dir, 'package.json');
    const pkgJson = fs.existsSync(pkgJsonPath) ? JSON.parse(fs.readFileSync(pkgJsonPath, 'utf8')) : {};
    const declared = new Set(
      Object.keys({ ...pkgJson.dependencies, ...pkgJson.devDependencies, ...pkgJson.peerDependencies }),
    );
    for (const dep of declared) {
      if (!dep.startsWith('@dozer/')) continue;
      const target = dep.slice('@dozer/'.length);
      if (!unit.allowed.includes(target)) {
        problems.push(
          `${path.relative(repoRoot, pkgJsonPath)}: ${unit.name} must not depend on ${dep} (allowed: ${unit.allowed.map((a) => `@dozer/${a}`).join(', ') || 'none'})`,
        );
      }
    }
    for (const file of walk(unit.dir)) {
      const text = fs.readFileSync(file, 'utf8');
      const rel = path.relative(repoRoot, file);
      for (const m of text.matchAll(IMPORT_RE)) {
        const spec = m[1] ?? m[2];
        const where = `${rel}:${lineOf(text, m.index + m[0].search(/import|export/))}`;
        if (spec.startsWith('.')) {
          const resolved = path.resolve(path.dirname(file), spec);
          const sharedTestSupport =
            isTestFile(file) && resolved.startsWith(path.join(repoRoot, 'test', 'support') + path.sep);
          if (!resolved.startsWith(unit.dir + path.sep) && resolved !== unit.dir && !sharedTestSupport) {
            problems.push(
              `${where}: relative import "${spec}" leaves ${unit.name}; import the other package by name`,
            );
          }
          continue;
        }
        if (!spec.startsWith('@dozer/')) continue;
        const [, target, ...sub] = spec.split('/');
        if (target === unit.name && !unit.app) {
          problems.push(
            `${where}: ${unit.name} imports itself by package name ("${spec}"); use a relative import`,
          );
          continue;
        }
        if (!unit.allowed.includes(target)) {
          problems.push(
            `${where}: ${unit.name} must not import @dozer/${target} (allowed: ${unit.allowed.map((a) => `@dozer/${a}`).join(', ') || 'none'})`,
          );
        } else if (!declared.has(`@dozer/${target}`)) {
          problems.push(
            `${where}: imports @dozer/${target} but ${path.relative(repoRoot, pkgJsonPath)} does not declare it`,
          );
        }
        if (sub.length > 0 && (sub[0] === 'src' || sub[0] === 'internal' || sub[0] === 'dist')) {
          problems.push(
            `${where}: "${spec}" reaches into another package's ${sub[0]}/; import its public entry point`,
          );
        }
      }
    }
  }
  // The allowed table itself must stay acyclic (a guard against a bad edit of it).
  const state = new Map();
  const visit = (n, trail) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'active') {
      problems.push(`package cycle: ${[...trail, n].join(' -> ')}`);
      return;
    }
    state.set(n, 'active');
    for (const d of ALLOWED[n] ?? []) visit(d, [...trail, n]);
    state.set(n, 'done');
  };
  for (const n of Object.keys(ALLOWED)) visit(n, []);
  if (Object.values(ALLOWED).some((deps) => deps.includes('cli')))
    problems.push('nothing may import @dozer/cli');
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkLayering();
  if (problems.length > 0) {
    console.error(`Layering check failed (${problems.length} problem${problems.length === 1 ? '' : 's'}):`);
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  console.log('Layering check passed: imports follow ARCHITECTURE.md.');
}

/** Tests (`*.test.ts`, or anything under a `test/` folder) may share the repo's `test/support/`. */
function isTestFile(file) {
  return /\.test\.[cm]?[jt]s$/.test(file) || file.split(path.sep).includes('test');
}
