/**
 * The examples users copy, run the way their READMEs say: `zdt start` in the
 * example's folder, keep-alive clients sending GET and POST whose echoes are
 * verified, one `zdt reload`: zero failed requests, every worker pid replaced,
 * the database-style cleanup run in every old worker, and `zdt stop` leaves
 * nothing running. So the examples cannot rot.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { childrenOf, freePort, killTracked, run, startLoad, waitFor, waitForExit, waitForHttp, zdt, zdtStart } from '@zero-downtime/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { cells, FULL } from './lib/tier.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const examples = [
  { name: 'express', entry: 'app.mjs' },
  { name: 'fastify', entry: 'app.mjs' },
  { name: 'nest', entry: 'main.mjs' },
];

/** A `zdt` on PATH that runs this checkout's CLI, so an example's own npm script runs as its README says. */
function zdtOnPath(): string {
  const bin = mkdtempSync(path.join(tmpdir(), 'zdt-bin-'));
  scratch.push(bin);
  const cli = path.join(root, 'packages', 'core', 'bin', 'zdt.cjs');
  writeFileSync(path.join(bin, 'zdt'), `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`, { mode: 0o755 });
  return bin;
}

const scratch: string[] = [];

afterEach(() => {
  killTracked();
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

for (const { name, entry } of cells(examples, (example) => example.name === 'fastify')) describe(`examples/${name}`, () => {
  it('reloads under zdt with zero failed requests and every worker replaced', async () => {
    const cwd = path.join(root, 'examples', name);
    const dir = mkdtempSync(path.join(tmpdir(), `zdt-example-${name}-`));
    scratch.push(dir);
    const control = path.join(dir, 'zdt.sock');
    const port = await freePort();
    const supervisor = zdtStart([entry, '--workers', '2', '--control', control], { cwd, env: { PORT: String(port) } });
    // A supervisor that cannot start exits; fail with its output instead of waiting out the timeout.
    await Promise.race([
      waitForHttp(port, { timeoutMs: 60_000 }),
      supervisor.exited.then(({ code }) => {
        throw new Error(`zdt start exited with ${code}:\n${supervisor.output.join('\n')}`);
      }),
    ]);
    // The first answer comes from the first worker to listen; a reload is refused until every worker is ready.
    await supervisor.waitForLine(/supervisor pid \d+ running/, 60_000);
    const before = childrenOf(supervisor.pid!);
    expect(before).toHaveLength(2);

    const load = startLoad({ port, clients: 8, durationMs: 90_000 });
    await sleep(500);
    const reload = await zdt(['reload', '--control', control], { cwd });
    await sleep(500);
    const summary = await load.stop();

    expect(reload.code, reload.stdout + reload.stderr).toBe(0);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
    const after = childrenOf(supervisor.pid!);
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    // The example's database-style cleanup ran in every replaced worker (its line comes through zdt's output).
    for (const pid of before) {
      await waitFor(() => supervisor.output.some((line) => line.includes(`[worker ${pid}] database pool closed`)), `cleanup of ${pid}`);
    }

    const stop = await zdt(['stop', '--control', control], { cwd });
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    expect(await supervisor.exited, supervisor.output.join('\n')).toEqual({ code: 0, signal: null });
    for (const pid of [...before, ...after]) expect(await waitForExit(pid, 15_000)).toBe(true);
  });
});

// The project's own CI proves each example's deploys the way a user's CI would: the example's `verify` script
// (`zdt verify` with its routes, a crash, a release that must be refused), run as `npm run verify` runs it.
// Full tier only (about 15 s each); test/verify.e2e.test.ts proves the command itself in the fast tier.
if (FULL) for (const name of ['express', 'fastify', 'nest', 'kubernetes']) describe(`examples/${name}: zdt verify`, () => {
  it('its verify script passes: no request failed that should not, every event and check passed', async () => {
    const cwd = path.join(root, 'examples', name);
    const script = (JSON.parse(readFileSync(path.join(cwd, 'package.json'), 'utf8')) as { scripts: { verify: string } }).scripts.verify;
    const result = await run('sh', ['-c', script], {
      cwd,
      env: { ...process.env, PATH: `${zdtOnPath()}${path.delimiter}${process.env.PATH ?? ''}`, PORT: String(await freePort()) },
      timeoutMs: 170_000,
    });
    expect(result.code, `${script}\n${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/PASSED in/);
  }, 180_000);
});
