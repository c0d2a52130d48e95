/**
 * No connection reaches a worker before it is ready. The app warms up after it listens and answers 503 to every
 * request until it is warm; under `--ready message` it then calls ready(). Clients start as soon as the first worker
 * listens (the first start included), with a new connection per request and with keep-alive, through rolling
 * restarts, a worker killed with SIGKILL (a crash restart) and a scale-up. What must hold: not one 503 and not one
 * error. Before the first worker is ready the port is not open yet, so a refused connection then is expected
 * (counted apart); once anything has been answered, a refusal is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, get, killTracked, startLoad, waitFor, zdt, zdtStart, type LoadSummary } from '@zero-downtime/testkit';
import { workersOf } from './lib/rollout.js';
import { cells, tier } from './lib/tier.js';

const warmUp = fileURLToPath(new URL('./fixtures/apps/warm-up.cjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-ready-gate-'));
const RELOADS = tier(2, 5);
const WARM_MS = tier(800, 1500);
const figures: string[] = [];
let sockets = 0;

afterEach(() => killTracked());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nan app that answers 503 for ${WARM_MS} ms after it listens, 2 workers, 8 clients of each kind:\n${figures.join('\n')}`);
});

/** Two runs of one client kind as one. */
function combine(first: LoadSummary, second: LoadSummary) {
  const failures: Record<string, number> = { ...first.failures };
  for (const [reason, count] of Object.entries(second.failures)) failures[reason] = (failures[reason] ?? 0) + count;
  return { sent: first.sent + second.sent, failed: first.failed + second.failed, failures, refusedExpected: first.refusedExpected + second.refusedExpected };
}

interface Case {
  name: string;
  args: string[];
  env: Record<string, string>;
  /** Listens on a socket the supervisor owns (`--listen`). */
  owned?: boolean;
}

const cases: Case[] = cells<Case>(
  [
    { name: '--ready message, ready() from the worker module', args: ['--ready', 'message'], env: { READY: 'module' } },
    { name: "--ready message, PM2's process.send('ready')", args: ['--ready', 'message'], env: { READY: 'pm2' } },
    { name: '--ready message on a socket the supervisor owns (--listen)', args: ['--ready', 'message'], env: { READY: 'module' }, owned: true },
    // The same app without ready(): its /healthz answers 200 once warm, and the worker side's probe finds it.
    { name: '--ready http:/healthz, the app says nothing', args: ['--ready', 'http:/healthz'], env: {} },
  ],
  (cell) => (cell.env.READY === 'module' && !cell.owned) || cell.args.includes('http:/healthz'),
);

describe.each(cases)('$name', ({ name, args, env, owned }) => {
  it(`first start, ${RELOADS} reloads, a SIGKILL and a scale-up: not one 503, not one error`, async () => {
    const control = path.join(scratch, `${++sockets}.sock`);
    const port = owned ? await freePort() : 0;
    const listen = owned ? ['--listen', `127.0.0.1:${port}`] : [];
    const running = zdtStart([warmUp, '--workers', '2', '--control', control, ...listen, ...args], {
      env: { ...env, WARM_MS: String(WARM_MS), ...(owned ? { PORT: String(port) } : {}) },
    });
    await waitFor(() => running.port() > 0, 'the first worker to listen', { timeoutMs: 30_000 });
    // From the first start on: a refusal is expected only until the first answer (the port opens at the first ready).
    let answered = false;
    const loads = [false, true].map((keepAlive) =>
      startLoad({ port: running.port(), clients: 8, keepAlive, durationMs: 120_000, refusedIsExpected: () => !answered }),
    );
    await Promise.all(loads.map((load) => load.waitForRequests(1)));
    answered = true;
    await running.waitForLine(/supervisor pid \d+ running/);
    for (let reload = 1; reload <= RELOADS; reload++) {
      const result = await zdt(['reload', '--control', control]);
      expect(result.code, result.stderr).toBe(0);
    }
    // A crash restart: the replacement takes no connection before it is ready either. The requests in flight on the
    // killed worker die with it whatever zdt does, so the clients are stopped for the kill and started again at once.
    const beforeKill = await Promise.all(loads.map((load) => load.stop()));
    const [victim] = await workersOf(control);
    process.kill(victim!.pid, 'SIGKILL');
    const again = [false, true].map((keepAlive) => startLoad({ port: running.port(), clients: 8, keepAlive, durationMs: 120_000 }));
    await waitFor(async () => (await workersOf(control)).every((worker) => worker.pid !== victim!.pid && worker.state === 'ready'), 'the crash restart', { timeoutMs: 30_000 });
    // A scale-up: the new worker warms up while the others serve.
    expect((await zdt(['scale', '3', '--control', control])).code).toBe(0);
    await Promise.all(again.map((load) => load.waitForRequests(200)));
    const afterKill = await Promise.all(again.map((load) => load.stop()));
    const [perRequest, keptAlive] = [0, 1].map((index) => combine(beforeKill[index]!, afterKill[index]!));
    for (const summary of [perRequest!, keptAlive!]) {
      expect(summary.failures).toEqual({});
      expect(summary.failed).toBe(0);
    }
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    figures.push(
      `${name}: a connection per request ${perRequest!.sent} sent, ${perRequest!.failed} failed (${perRequest!.refusedExpected} refused before the port opened); ` +
        `keep-alive ${keptAlive!.sent} sent, ${keptAlive!.failed} failed`,
    );
  });
});

describe('the first start', () => {
  it('the port accepts as soon as zdt start says it is running: the first request right after is answered', async () => {
    const control = path.join(scratch, `${++sockets}.sock`);
    const answers: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const running = zdtStart([warmUp, '--workers', '2', '--control', control, '--ready', 'message'], { env: { READY: 'module', WARM_MS: '200' } });
      await running.waitForLine(/supervisor pid \d+ running/);
      answers.push((await get(running.port(), '/ping')).status);
      expect((await zdt(['stop', '--control', control])).code).toBe(0);
      await running.exited;
    }
    expect(answers).toEqual([200, 200, 200]);
  });
});
