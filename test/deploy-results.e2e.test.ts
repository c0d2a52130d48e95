/**
 * What `zdt` says about a deploy is true at the edges: a long request gets the drain time it was promised, a drain
 * deadline that cut requests is said with exit 3 and the workers named, a hung worker is replaced within the
 * configured time, and bad flags are refused with exit 2.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cells, tier } from './lib/tier.js';
import { get, isAlive, killTracked, waitForExit, zdt, zdtStart, type Reply } from '@zero-downtime/testkit';

const APP = fileURLToPath(new URL('./fixtures/apps/release.cjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-results-'));
let sockets = 0;
const control = () => path.join(scratch, `${++sockets}.sock`);

afterEach(() => killTracked());
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function startOne(extra: string[]) {
  const socket = control();
  const running = zdtStart([APP, '--workers', '1', '--control', socket, ...extra]);
  await running.waitForLine(/supervisor pid \d+ running/);
  return { running, socket, port: running.port() };
}

/** Sends a slow request and gives the worker a moment to hold it; wrapped, so awaiting this does not await the reply. */
async function inFlight(port: number, ms: number): Promise<{ reply: Promise<Reply | Error> }> {
  const reply = get(port, `/slow?ms=${ms}`, { timeoutMs: 120_000 }).catch((error: Error) => error);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { reply };
}

describe('zdt tells the truth about drains', () => {
  // Longer than the supervisor's default readiness and kill windows of other tools (PM2's kill_timeout is 1.6 s).
  const slowMs = tier(3_000, 20_000);
  it(`a ${slowMs / 1000} s request in flight survives a reload under --drain-timeout ${tier('15s', '60s')}`, async () => {
    const { running, socket, port } = await startOne(['--drain-timeout', tier('15s', '60s')]);
    const { reply: slow } = await inFlight(port, slowMs);
    const reload = await zdt(['reload', '--control', socket]);
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/reload done: generation 1 serves on every worker/);
    const reply = await slow;
    expect(reply).toMatchObject({ status: 200 });
    expect(JSON.parse((reply as Reply).body)).toMatchObject({ sleptMs: slowMs });
    expect((await zdt(['stop', '--control', socket])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('a reload whose drain deadline cut a request exits 3 with ERR_ZDT_REQUESTS_CUT naming the worker; status says it too', async () => {
    const { running, socket, port } = await startOne(['--drain-timeout', '1s', '--cleanup-timeout', '500ms']);
    const oldPid = running.workerPids()[0]!;
    const { reply: slow } = await inFlight(port, 8_000);
    const reload = await zdt(['reload', '--control', socket]);
    expect(reload.code).toBe(3);
    expect(reload.stdout).toMatch(/reload done: generation 1 serves on every worker/);
    expect(reload.stderr).toMatch(new RegExp(`ERR_ZDT_REQUESTS_CUT: the rollout replaced every worker, but worker 1 \\(pid ${oldPid}, generation 0\\) cut 1 connection\\(s\\) at the drain deadline`));
    expect(await slow).toBeInstanceOf(Error);
    const status = await zdt(['status', '--control', socket]);
    expect(status.stdout).toMatch(new RegExp(`cut at the drain deadline: worker 1 \\(pid ${oldPid}\\) cut 1 connection`));
    expect((await zdt(['stop', '--control', socket])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('a stop that cut a request exits 3, both zdt stop and zdt start', async () => {
    const { running, socket, port } = await startOne(['--drain-timeout', '1s', '--cleanup-timeout', '500ms']);
    const { reply: slow } = await inFlight(port, 8_000);
    const stop = await zdt(['stop', '--control', socket]);
    expect(stop.code).toBe(3);
    expect(stop.stderr).toMatch(/ERR_ZDT_REQUESTS_CUT: every worker stopped, but worker 1 .* cut 1 connection\(s\) at the drain deadline/);
    expect(await slow).toBeInstanceOf(Error);
    expect(await running.exited).toEqual({ code: 3, signal: null });
    expect(running.output.at(-1)).toMatch(/supervisor stopped \(exit 3\)/);
  });
});

describe('hung workers', () => {
  for (const flags of cells([['--heartbeat-timeout', '2s'], []], (cell) => cell.length > 0)) {
    it(`are replaced start-first, then killed (${flags.length ? flags.join(' ') : 'default settings'})`, async () => {
      const { running, socket, port } = await startOne(flags);
      const hungPid = running.workerPids()[0]!;
      expect((await get(port, '/hang')).status).toBe(200);
      const line = await running.waitForLine(new RegExp(`worker 1 \\(pid ${hungPid}\\) hung: no heartbeat for (\\d+)ms`), 30_000);
      const silentForMs = Number(/no heartbeat for (\d+)ms/.exec(line)![1]);
      expect(silentForMs).toBeGreaterThan(flags.length ? 2_000 : 5_000);
      expect(await waitForExit(hungPid, 30_000)).toBe(true);
      const reply = JSON.parse((await get(port, '/ping')).body) as { pid: number };
      expect(reply.pid).not.toBe(hungPid);
      expect(isAlive(reply.pid)).toBe(true);
      console.log(`hung worker (${flags.join(' ') || 'defaults'}): found after ${silentForMs} ms of silence`);
      expect((await zdt(['stop', '--control', socket])).code).toBe(0);
      expect(await running.exited).toEqual({ code: 0, signal: null });
    });
  }
});

describe('bad flags exit 2 naming what was received', () => {
  for (const [flag, value, message] of [
    ['--heartbeat-timeout', '500ms', /--heartbeat-timeout: .*more than the 1000ms ping interval, received "500ms"/],
    ['--heartbeat-timeout', '36000m', /--heartbeat-timeout: .*received "36000m"/],
    ['--cleanup-timeout', '36000m', /--cleanup-timeout: .*received "36000m"/],
    ['--max-memory', 'lots', /--max-memory: expected a size like "512M" or "1.5G".*received "lots"/],
    ['--max-memory', '0', /--max-memory: .*received "0"/],
    ['--batch-size', '0', /--batch-size: expected a whole number from 1 to 1024, received "0"/],
    ['--workers', '100000', /--workers: expected a whole number from 1 to 1024, or "max", received "100000"/],
  ] as const) {
    it(`${flag} ${value}`, async () => {
      const running = zdtStart([APP, flag, value, '--control', control()]);
      expect(await running.exited).toEqual({ code: 2, signal: null });
      expect(running.output.join('\n')).toMatch(message);
      expect(running.workerPids()).toEqual([]);
    });
  }
});
