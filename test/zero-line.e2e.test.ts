/**
 * Zero-line mode: apps that import nothing from zero-downtime, run with `zdt start app`, drained as gently as with
 * an adapter (the worker side is preloaded into every worker). Five rolling restarts each under keep-alive load
 * with verified bodies: zero failed requests, every worker replaced each time. A PM2-style app's own SIGINT cleanup
 * runs once per worker, after the drain.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get, killTracked, startLoad, zdt, zdtStart } from '@zero-downtime/testkit';
import { median, reloadAndCheck, workersOf } from './lib/rollout.js';
import { cells, ROLLOUTS } from './lib/tier.js';

const unmodified = (name: string) => fileURLToPath(new URL(`./fixtures/unmodified/${name}`, import.meta.url));
const adapted = (name: string) => fileURLToPath(new URL(`./fixtures/apps/${name}`, import.meta.url));

const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-zero-line-'));
let sockets = 0;
const figures: string[] = [];

afterEach(() => killTracked());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nzero-line mode, ${ROLLOUTS} rolling restarts, 2 workers, 8 keep-alive clients:\n${figures.join('\n')}`);
});

async function rollingRestarts(name: string, entry: string, env: Record<string, string> = {}, extra: string[] = []) {
  const control = path.join(scratch, `${++sockets}.sock`);
  const running = zdtStart([entry, '--workers', '2', '--control', control, ...extra], { env });
  await running.waitForLine(/supervisor pid \d+ running/);
  const load = startLoad({ port: running.port(), clients: 8, durationMs: 150_000 });
  await load.waitForRequests(20);
  const durations: number[] = [];
  for (let rollout = 1; rollout <= ROLLOUTS; rollout++) {
    durations.push(await reloadAndCheck(control, rollout));
    await load.waitForRequests(10);
  }
  const summary = await load.stop();
  const newest = (await workersOf(control)).map((worker) => worker.pid);
  expect(newest.some((pid) => summary.pids.has(pid))).toBe(true);
  expect(summary.failures).toEqual({});
  expect(summary.failed).toBe(0);
  expect((await zdt(['stop', '--control', control])).code).toBe(0);
  expect(await running.exited).toEqual({ code: 0, signal: null });
  figures.push(`${name}: ${summary.sent} requests, ${summary.failed} failed; rollouts ${durations.join(', ')} ms (median ${median(durations)})`);
  return { summary, durations, running };
}

describe('unmodified apps under zdt start', () => {
  for (const { name, entry, env } of cells([
    { name: 'plain node:http (unmodified)', entry: adapted('plain.cjs') },
    { name: 'express 5 (unmodified)', entry: unmodified('express.mjs') },
    { name: 'fastify 5 (unmodified)', entry: unmodified('fastify.mjs') },
    { name: 'nest 11 on express (unmodified, enableShutdownHooks)', entry: unmodified('nest.mjs') },
    { name: 'express 5 with the adapter, for comparison', entry: adapted('express.mjs') },
    { name: 'fastify 5 with the plugin, for comparison', entry: adapted('fastify.mjs') },
    { name: 'nest 11 on express with the module, for comparison', entry: adapted('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
  ] as Array<{ name: string; entry: string; env?: Record<string, string> }>, (cell) => cell.name === 'plain node:http (unmodified)')) {
    it(`${name}: ${ROLLOUTS} rolling restarts, zero failed requests, every worker replaced`, async () => {
      await rollingRestarts(name, entry, env);
    });
  }

  it("a PM2-style app's own SIGINT cleanup runs once per worker, after the drain, with zero failed requests", async () => {
    const log = path.join(scratch, 'cleanup.log');
    const { running } = await rollingRestarts('PM2-style app (closes its server on SIGINT)', unmodified('pm2-style.cjs'), { CLEANUP_LOG: log });
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    // Every worker that ever ran (2 at start + 2 per rollout) cleaned up exactly once.
    const pids = running.workerPids();
    expect(pids).toHaveLength(2 + 2 * ROLLOUTS);
    expect(lines.sort()).toEqual(pids.map((pid) => `cleanup ${pid}`).sort());
  });

  it('one worker runtime per process: preload, CommonJS, ESM and a second installed copy share one drain', async () => {
    // A second copy of the package, installed elsewhere, the way two versions end up in one node_modules tree.
    const second = path.join(scratch, 'second-copy');
    const packageDirectory = path.join(second, 'node_modules', '@zero-downtime', 'core');
    const core = fileURLToPath(new URL('../packages/core/', import.meta.url));
    mkdirSync(packageDirectory, { recursive: true });
    cpSync(path.join(core, 'package.json'), path.join(packageDirectory, 'package.json'));
    cpSync(path.join(core, 'dist'), path.join(packageDirectory, 'dist'), { recursive: true });
    const control = path.join(scratch, `${++sockets}.sock`);
    const running = zdtStart([unmodified('many-copies.mjs'), '--workers', '1', '--control', control], { env: { SECOND_COPY: second } });
    await running.waitForLine(/supervisor pid \d+ running/);
    const listeners = JSON.parse((await get(running.port(), '/listeners')).body) as Record<string, unknown>;
    // node:cluster's own 'message' forwarder in every worker, plus the one runtime's; one SIGTERM and one
    // uncaughtException listener: a second runtime would have added one of each.
    expect(listeners).toMatchObject({ message: 2, SIGTERM: 1, uncaughtException: 1, sameState: true });
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    await rollingRestarts('preload + CommonJS + ESM + a second copy', unmodified('many-copies.mjs'), { SECOND_COPY: second });
  });

  it('--no-auto-drain loads nothing into the workers', async () => {
    const control = path.join(scratch, `${++sockets}.sock`);
    const marker = path.join(scratch, 'untouched.json');
    const probe = path.join(scratch, 'probe.cjs');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      probe,
      `require('node:fs').writeFileSync(${JSON.stringify(marker)}, JSON.stringify({ execArgv: process.execArgv, runtime: Object.getOwnPropertySymbols(globalThis).map(String) }));\nrequire(${JSON.stringify(adapted('plain.cjs'))});\n`,
    );
    const running = zdtStart([probe, '--workers', '1', '--no-auto-drain', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(existsSync(marker)).toBe(true);
    const seen = JSON.parse(readFileSync(marker, 'utf8')) as { execArgv: string[]; runtime: string[] };
    expect(seen.execArgv.join(' ')).not.toMatch(/preload/);
    expect(seen.runtime).not.toContain('Symbol(zero-downtime.worker)');
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
  });
});
