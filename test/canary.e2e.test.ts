/**
 * `zdt reload --canary DUR` end to end: a release that boots and answers 500 to every request is refused after its
 * canary window, `zdt reload` exits 1 naming the figures, the release is rolled back, and `zdt status` says so.
 */
import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killTracked, zdt, zdtStart } from '@zero-downtime/testkit';
import { afterEach, describe, expect, it } from 'vitest';

const canaryApp = fileURLToPath(new URL('../packages/core/test/fixtures/canary-app.cjs', import.meta.url));
const directories: string[] = [];
afterEach(() => {
  killTracked();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/**
 * Release `name` in `root/releases/name/app.cjs` (the canary app failing `rate` of its requests), and `root/current`
 * switched to it, as deploys lay releases out, so a rollback forks the previous release's code.
 */
function deploy(root: string, name: string, rate: number) {
  const directory = path.join(root, 'releases', name);
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, 'app.cjs'), `process.env.FIXTURE_FAIL_RATE = ${JSON.stringify(String(rate))};\nrequire(${JSON.stringify(canaryApp)});\n`);
  symlinkSync(directory, path.join(root, `current.${name}`));
  renameSync(path.join(root, `current.${name}`), path.join(root, 'current'));
}

function startClients(port: number, clients: number) {
  const statuses: number[] = [];
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
          response.resume();
          response.on('end', () => {
            statuses.push(response.statusCode ?? 0);
            resolve();
          });
        })
        .on('error', () => resolve());
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    statuses,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('zdt reload --canary', () => {
  it('refuses a release that answers 500 to every request: exit 1 with the figures, rolled back, zdt status says so', async () => {
    const directory = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdt-canary-')));
    directories.push(directory);
    deploy(directory, 'v1', 0);
    const control = path.join(directory, 'control.sock');
    const current = path.join(directory, 'current');
    const running = zdtStart(['app.cjs', '--workers', '2', '--control', control, '--canary-min-requests', '30'], { cwd: current, env: { PWD: current } });
    await running.waitForLine(/supervisor pid \d+ running/);
    const clients = startClients(running.port(), 4);
    deploy(directory, 'v2', 1);
    const reload = await zdt(['reload', '--canary', '2s', '--control', control], { timeoutMs: 60_000 });
    await clients.stop();
    console.log(`zdt reload --canary 2s exited ${reload.code}:\n${reload.stdout}${reload.stderr}`);
    expect(reload.code).toBe(1);
    expect(reload.stdout).toMatch(/^canary: holding 2000ms to compare generation 1's first batch with generation 0$/m);
    expect(reload.stderr).toMatch(
      /^zdt: ERR_ZDT_ROLLOUT_FAILED: Rollout of generation 1 failed: canary: \d+ requests, \d+ 5xx \(100\.0%\) vs 0 of \d+ \(0\.0%\) on generation 0 \(one-sided Fisher p[=<]\S+ < 0\.001, \+100\.0 points > 1-point margin\); rolled back 1 worker to generation 0: generation 0 serves on all 2 workers$/m,
    );
    const status = await zdt(['status', '--control', control]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^last canary: generation 1 refused: canary: \d+ requests/m);
    const json = JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as { workers: Array<{ generation: number }>; lastCanary: { decision: string } };
    expect(json.workers.map((worker) => worker.generation)).toEqual([0, 0]);
    expect(json.lastCanary.decision).toBe('refused');
    expect(clients.statuses.filter((code) => code >= 500).length).toBeGreaterThan(0);
    expect(clients.statuses.at(-1)).toBe(200);
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
  });
});
