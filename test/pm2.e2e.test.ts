/**
 * The same apps under PM2's own reload (cluster mode, 2 instances), as a user
 * who keeps PM2 but adds the adapter would run them: PM2 starts the new
 * worker, then sends SIGINT to the old one, which drains. PM2 runs under a
 * private PM2_HOME, so a user's own PM2 is never touched, and its daemon is
 * killed at the end.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoad } from './lib/load.js';
import { freePort } from '../bench/lib/procs.mjs';
import { isAlive, killTracked, track } from './lib/processes.js';

const require = createRequire(import.meta.url);
const pm2Bin = path.join(path.dirname(require.resolve('pm2/package.json')), 'bin', 'pm2');
const app = (name: string) => fileURLToPath(new URL(`./fixtures/apps/${name}`, import.meta.url));

function pm2(home: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [pm2Bin, ...args],
      { env: { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function workerPids(home: string): Promise<number[]> {
  const list = await pm2(home, 'jlist');
  const apps = JSON.parse(list.stdout.slice(list.stdout.indexOf('['))) as Array<{ pid: number; pm2_env: { status: string } }>;
  return apps.filter((entry) => entry.pm2_env.status === 'online').map((entry) => entry.pid);
}

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) {
    let daemon = 0;
    try {
      daemon = Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8'));
    } catch {
      // the daemon never started
    }
    await pm2(home, 'kill');
    if (daemon && isAlive(daemon)) process.kill(daemon, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
  killTracked();
});

const frameworks = [
  { name: 'express 5', entry: app('express.mjs'), env: {} },
  { name: 'fastify', entry: app('fastify.mjs'), env: {} },
  { name: 'nest on platform-express', entry: app('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
];

describe.each(frameworks)('$name under PM2 reload', (framework) => {
  it('3 reloads of 2 cluster instances: zero failed requests, every pid replaced', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'zdt-pm2-'));
    homes.push(home);
    const port = await freePort();
    const ecosystem = path.join(home, 'ecosystem.config.json');
    writeFileSync(
      ecosystem,
      JSON.stringify({
        apps: [
          {
            name: 'zdt-e2e',
            script: framework.entry,
            exec_mode: 'cluster',
            instances: 2,
            wait_ready: true,
            kill_timeout: 10_000,
            listen_timeout: 20_000,
            autorestart: true,
            env: { ...framework.env, PORT: String(port) },
          },
        ],
      }),
    );
    const started = await pm2(home, 'start', ecosystem);
    expect(started.code).toBe(0);
    track(Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8')));
    let pids: number[] = [];
    for (let attempt = 0; attempt < 100 && pids.length < 2; attempt++) {
      pids = await workerPids(home);
      if (pids.length < 2) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(pids).toHaveLength(2);
    pids.forEach(track);

    const load = startLoad({ port, clients: 8, maxDurationMs: 100_000 });
    await load.waitForRequests(200);
    const seen = new Set(pids);
    for (let round = 0; round < 3; round++) {
      const reloaded = await pm2(home, 'reload', 'zdt-e2e');
      expect(reloaded.code).toBe(0);
      const now = await workerPids(home);
      expect(now).toHaveLength(2);
      for (const pid of now) {
        expect(seen.has(pid)).toBe(false);
        seen.add(pid);
        track(pid);
      }
      await load.waitForRequests(100);
    }
    const summary = await load.stop();
    console.log(`${framework.name} | 2 instances, 3 reloads, PM2 | sent ${summary.sent} | failed ${summary.failed}`);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  });
});
