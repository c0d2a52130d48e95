import { describe, expect, it } from 'vitest';
import http from 'node:http';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { get, isAlive, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { sendControlCommand } from '../src/primary/control/server.js';
import { fixture, testContext } from './helpers.js';

const { cleanups, scratchDirectory } = testContext();

interface StatusJson {
  workersWanted: number;
  workers: Array<{ id: number; pid: number; state: string }>;
}

async function statusOf(control: string): Promise<StatusJson> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as StatusJson;
}

function pidsById(status: StatusJson): Record<number, number> {
  return Object.fromEntries(status.workers.map((worker) => [worker.id, worker.pid]));
}

/** A GET /hold left open: resolves with the pid of the worker holding it once its first line arrived. */
function hold(port: number): Promise<{ pid: number; request: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/hold', agent: false }, (response) => {
      response.setEncoding('utf8');
      response.once('data', (chunk: string) => resolve({ pid: (JSON.parse(chunk) as { pid: number }).pid, request }));
      response.on('error', () => {});
    });
    request.on('error', reject);
    cleanups.push(() => request.destroy());
  });
}

describe('zdt scale', () => {
  it('zdt scale 3 then zdt scale 1: the untouched workers keep their pids, status shows the count', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const running = zdtStart([fixture('env-app.cjs'), '--workers', '2', '--drain-timeout', '5s', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const before = pidsById(await statusOf(control));

    const up = await zdt(['scale', '3', '--control', control]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/worker 3: forked pid \d+ \(generation 0\)/);
    expect(up.stdout.trim().split('\n').at(-1)).toBe('scaled to 3 workers: added worker 3');
    const three = await statusOf(control);
    expect(three.workersWanted).toBe(3);
    expect(three.workers.map((worker) => worker.state)).toEqual(['ready', 'ready', 'ready']);
    expect(pidsById(three)).toMatchObject(before);
    const added = pidsById(three)[3]!;
    expect((await zdt(['status', '--control', control])).stdout).toMatch(/running, newest generation 0, 3\/3 worker process\(es\)/);

    const down = await zdt(['scale', '1', '--control', control]);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout.trim().split('\n').at(-1)).toBe('scaled to 1 worker: removed workers 2, 3 (drained)');
    const one = await statusOf(control);
    expect(one.workersWanted).toBe(1);
    expect(pidsById(one)).toEqual({ 1: before[1] });
    await waitFor(() => !isAlive(before[2]!) && !isAlive(added), 'the removed workers to exit');
    expect(JSON.parse((await get(running.port(), '/env')).body)).toMatchObject({ pid: before[1] });

    const again = await zdt(['scale', '1', '--control', control]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('already 1 worker: nothing to do');

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('exits 2 for a count that is not one, before asking the supervisor; the supervisor refuses one too', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    for (const args of [['scale'], ['scale', 'three'], ['scale', '0'], ['scale', '1025'], ['scale', '-1'], ['scale', '2', '3']]) {
      const result = await zdt([...args, '--control', control]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^zdt: ERR_ZDT_USAGE: /);
    }
    const running = zdtStart([fixture('env-app.cjs'), '--workers', '1', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    // A client that skips the check still gets a coded refusal, and nothing changes.
    const refused = await sendControlCommand(control, { command: 'scale', workers: 0 });
    expect(refused).toMatchObject({ type: 'error', code: 'ERR_ZDT_INVALID_OPTION' });
    expect((await statusOf(control)).workers).toHaveLength(1);

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('a new worker that cannot start fails the scale with exit 1 (ERR_ZDT_SCALE_FAILED) and the others keep serving', async () => {
    const dir = scratchDirectory();
    const control = path.join(dir, 'control.sock');
    const flag = path.join(dir, 'broken');
    const running = zdtStart([fixture('env-app.cjs'), '--workers', '1', '--control', control], { env: { FIXTURE_CRASH_FLAG: flag } });
    await running.waitForLine(/supervisor pid \d+ running/);
    const before = pidsById(await statusOf(control));

    writeFileSync(flag, '');
    const result = await zdt(['scale', '2', '--control', control]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^zdt: ERR_ZDT_SCALE_FAILED: Scaling to 2 workers failed: new worker 2 \(pid \d+\) .*boot crash/);
    const after = await statusOf(control);
    expect(after.workersWanted).toBe(1);
    expect(pidsById(after)).toEqual(before);
    expect(JSON.parse((await get(running.port(), '/env')).body)).toMatchObject({ pid: before[1] });

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('exits 3 (ERR_ZDT_REQUESTS_CUT) when a removed worker still held a request at its drain deadline', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const running = zdtStart([fixture('env-app.cjs'), '--workers', '2', '--drain-timeout', '1s', '--cleanup-timeout', '1s', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const pids = pidsById(await statusOf(control));
    // Requests alternate between the workers: hold requests open until worker 2 holds one.
    const holds: Array<{ pid: number; request: http.ClientRequest }> = [];
    while (holds.length < 10 && !holds.some((held) => held.pid === pids[2])) holds.push(await hold(running.port()));
    expect(holds.map((held) => held.pid)).toContain(pids[2]);

    const result = await zdt(['scale', '1', '--control', control]);
    expect(result.code).toBe(3);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('scaled to 1 worker: removed worker 2 (drained)');
    expect(result.stderr).toMatch(
      new RegExp(`^zdt: ERR_ZDT_REQUESTS_CUT: the workers were removed, but worker 2 \\(pid ${pids[2]}, generation 0\\) cut 1 connection\\(s\\) at the drain deadline`),
    );
    expect(pidsById(await statusOf(control))).toEqual({ 1: pids[1] });

    // Requests worker 1 held end with their clients, so the stop is clean.
    for (const held of holds) held.request.destroy();
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('a reload applies a workers value changed in the configuration file, and keeps a zdt scale otherwise', async () => {
    const dir = scratchDirectory();
    copyFileSync(fixture('env-app.cjs'), path.join(dir, 'app.cjs'));
    const control = path.join(dir, 'control.sock');
    const writeConfig = (workers: number, greeting: string) =>
      writeFileSync(path.join(dir, 'zdt.config.json'), JSON.stringify({ entry: 'app.cjs', workers, control: 'control.sock', env: { APP_GREETING: greeting } }));
    writeConfig(2, 'one');
    const running = zdtStart([], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);

    expect((await zdt(['scale', '3', '--control', control])).code).toBe(0);
    writeConfig(2, 'two');
    const kept = await zdt(['reload', '--control', control]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/reload done: generation 1 serves on every worker, 3 worker\(s\) replaced/);
    expect((await statusOf(control)).workersWanted).toBe(3);

    writeConfig(1, 'three');
    const applied = await zdt(['reload', '--control', control]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/reload done: generation 2 serves on every worker, 1 worker\(s\) replaced/);
    const status = await statusOf(control);
    expect(status.workersWanted).toBe(1);
    expect(status.workers).toHaveLength(1);
    expect(JSON.parse((await get(running.port(), '/env')).body)).toMatchObject({ generation: '2', env: { APP_GREETING: 'three' } });

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });
});
