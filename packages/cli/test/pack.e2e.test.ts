import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, getJson, REPO_ROOT, until } from './helpers.js';

// What a user gets from the registry: the packages built (`pnpm build`),
// packed (`pnpm pack`, which rewrites workspace: and catalog: versions), and
// run with npx in an empty directory. The @dozer tarballs are handed to npx
// together because they are not published; everything else comes from npm.
describe('packed @dozer/cli through npx', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-pack-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('runs dozer init and dozer run in an empty directory', async () => {
    execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: REPO_ROOT,
      stdio: 'pipe',
    });
    const tarballs = path.join(work, 'tarballs');
    fs.mkdirSync(tarballs);
    for (const pkg of fs.readdirSync(path.join(REPO_ROOT, 'packages'))) {
      execFileSync('pnpm', ['pack', '--pack-destination', tarballs], {
        cwd: path.join(REPO_ROOT, 'packages', pkg),
        stdio: 'pipe',
      });
    }
    const packs = fs.readdirSync(tarballs).map((f) => path.join(tarballs, f));
    expect(packs.some((f) => /dozer-cli-.*\.tgz$/.test(f))).toBe(true);
    // The CLI tarball ships compiled code, the template and the bin; no sources or tests.
    const listing = execFileSync('tar', ['tzf', packs.find((f) => /dozer-cli-/.test(f))!], {
      encoding: 'utf8',
    });
    expect(listing).toContain('package/dist/main.js');
    expect(listing).toContain('package/templates/dozer.yaml');
    expect(listing).not.toContain('.test.');

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    const npxArgs = ['--yes', ...packs.flatMap((p) => ['--package', p]), '--', 'dozer'];
    const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' };
    const init = execFileSync('npx', [...npxArgs, 'init'], { cwd: app, encoding: 'utf8', env });
    expect(init).toContain('Wrote dozer.yaml');
    const port = await freePort();
    const yaml = fs
      .readFileSync(path.join(app, 'dozer.yaml'), 'utf8')
      .replace('port: 8080', `port: ${port}`)
      .replace('port: 50051', `port: ${await freePort()}`);
    fs.writeFileSync(path.join(app, 'dozer.yaml'), yaml);

    const child = spawn('npx', [...npxArgs, 'run'], {
      cwd: app,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    try {
      await until(
        async () => output.includes('Serving'),
        120_000,
        `"Serving" from dozer run; output:\n${output}`,
      );
      await until(
        async () => ((await getJson(`http://127.0.0.1:${port}/big-trips`)).body as unknown[]).length > 0,
        10_000,
        'rows at /big-trips',
      );
      expect(fs.existsSync(path.join(app, '.dozer'))).toBe(true);
    } finally {
      process.kill(-child.pid!, 'SIGINT');
      await new Promise((r) => child.on('exit', r));
    }
    expect(output).toContain('stopped cleanly');
  }, 600_000);
});
