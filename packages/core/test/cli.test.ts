import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { get, isAlive, pidOf, track, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, releaseEntry, testContext } from './helpers.js';

const context = testContext();
const { scratchDirectory } = context;

describe('zdt CLI', () => {
  it('start, status, reload and stop over a 0600 control socket', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const running = zdtStart([fixture('app.cjs'), '--workers', '2', '--ready-timeout', '10s', '--drain-timeout', '5s', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(statSync(control).mode & 0o777).toBe(0o600);
    expect(statSync(control).isSocket()).toBe(true);

    const status = await zdt(['status', '--json', '--control', control]);
    expect(status.code).toBe(0);
    const before = JSON.parse(status.stdout) as { state: string; workers: Array<{ pid: number; state: string }> };
    expect(before.state).toBe('running');
    expect(before.workers.map((worker) => worker.state)).toEqual(['ready', 'ready']);
    const human = await zdt(['status', '--control', control]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/running, newest generation 0/);

    const reload = await zdt(['reload', '--control', control]);
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/rollout of generation 1 started/);
    expect(reload.stdout).toMatch(/reload done: generation 1 serves on every worker, 2 worker\(s\) replaced/);
    const oldPids = before.workers.map((worker) => worker.pid);
    expect(oldPids.filter(isAlive)).toEqual([]);

    const stop = await zdt(['stop', '--control', control]);
    expect(stop.code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids()).toHaveLength(4);
    expect(running.workerPids().filter(isAlive)).toEqual([]);
    expect(existsSync(control)).toBe(false);
  });

  it('zdt reload exits 1 with the reason on a broken release while the old workers keep answering', async () => {
    const dir = scratchDirectory();
    const app = releaseEntry('app.cjs', dir);
    const control = path.join(dir, 'control.sock');
    const running = zdtStart([app.entry, '--workers', '2', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const oldPids = running.workerPids();

    app.deploy('broken-release.cjs');
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(/ERR_ZDT_ROLLOUT_FAILED: .*worker 1 \(pid \d+\) failed before it was ready: uncaught exception: Error: broken release: missing configuration; nothing was replaced: the 2 worker\(s\) of generation 0 still run its code, forked before the overwrite/);
    expect(oldPids.every(isAlive)).toBe(true);
    for (let request = 0; request < 10; request++) expect(oldPids).toContain(pidOf(await get(running.port())));
    expect(JSON.parse((await zdt(['status', '--json', '--control', control])).stdout)).toMatchObject({ lastRollout: { outcome: 'failed' } });

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('ten SIGUSR2 during a rollout run at most one extra rollout; SIGTERM stops with exit 0', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    // Each new worker takes 1.5 s to listen, so all ten signals arrive while the first rollout runs.
    const running = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', control], { env: { FIXTURE_BOOT_DELAY_MS: '1500' } });
    await running.waitForLine(/supervisor pid \d+ running/);
    for (let signal = 0; signal < 10; signal++) {
      running.child.kill('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor(async () => {
      const status = await zdt(['status', '--json', '--control', control]);
      const parsed = JSON.parse(status.stdout) as { rollout: unknown; lastRollout: { outcome: string } | null };
      return parsed.rollout === null && parsed.lastRollout?.outcome === 'done';
    }, 'the rollouts to finish');
    const started = running.output.filter((line) => /rollout of generation \d+ started/.test(line));
    // The first signal starts a rollout, the second queues one more, the other eight join the queued one.
    expect(started).toHaveLength(2);
    expect(running.output.filter((line) => /SIGUSR2: reload requested/.test(line))).toHaveLength(10);

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('a second SIGTERM forces the stop (SIGKILL), exit 1', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const running = zdtStart([fixture('app.cjs'), '--workers', '2', '--drain-timeout', '2m', '--control', control], { env: { FIXTURE_LINGER: '1' } });
    await running.waitForLine(/supervisor pid \d+ running/);
    running.child.kill('SIGTERM');
    await running.waitForLine(/stopping 2 worker/);
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 1, signal: null });
    expect(running.output.some((line) => /forcing stop/.test(line))).toBe(true);
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('refuses a second supervisor on a live control socket and replaces a stale one', async () => {
    const dir = scratchDirectory();
    const control = path.join(dir, 'control.sock');
    // A stale socket file: its owner was SIGKILLed and never unlinked it.
    const owner = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(control)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    track(owner.pid);
    await new Promise((resolve) => owner.stdout!.once('data', resolve));
    owner.kill('SIGKILL');
    await new Promise((resolve) => owner.once('exit', resolve));
    expect(existsSync(control)).toBe(true);

    const running = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);

    const second = await zdt(['start', fixture('app.cjs'), '--workers', '1', '--control', control]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/ERR_ZDT_CONTROL_IN_USE/);

    // ZDT_CONTROL is the default path when --control is not given.
    expect((await zdt(['status'], { env: { ZDT_CONTROL: control } })).code).toBe(0);
    expect((await zdt(['stop'], { env: { ZDT_CONTROL: control } })).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('follows a release symlink switched by a deploy (started from inside the symlinked directory)', async () => {
    const dir = scratchDirectory();
    for (const [release, source] of [['r1', 'app.cjs'], ['r2', 'message-ready.cjs']] as const) {
      mkdirSync(path.join(dir, release));
      releaseEntry(source, path.join(dir, release));
    }
    const current = path.join(dir, 'current');
    symlinkSync('r1', current);
    const control = path.join(dir, 'control.sock');
    const running = zdtStart(['app.cjs', '--workers', '1', '--control', control], { env: { PWD: current }, cwd: current });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(JSON.parse((await get(running.port())).body)).toMatchObject({ release: 'app' });

    // The usual atomic switch: a new link renamed over the old one.
    symlinkSync('r2', `${current}.next`);
    renameSync(`${current}.next`, current);
    expect((await zdt(['reload', '--control', control])).code).toBe(0);
    expect(JSON.parse((await get(running.port())).body)).not.toHaveProperty('release');

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 1 with ERR_ZDT_START_FAILED when the app cannot boot, leaving nothing running', async () => {
    const running = zdtStart([fixture('broken-release.cjs'), '--workers', '2', '--control', path.join(scratchDirectory(), 'c.sock')]);
    expect(await running.exited).toEqual({ code: 1, signal: null });
    expect(running.output.some((line) => /ERR_ZDT_START_FAILED: .*failed before it was ready: uncaught exception: Error: broken release: missing configuration/.test(line))).toBe(true);
    expect(running.workerPids()).toHaveLength(2);
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('says so (exit 1) when no supervisor answers', async () => {
    const control = path.join(scratchDirectory(), 'nobody.sock');
    for (const command of ['reload', 'status', 'stop']) {
      const result = await zdt([command, '--control', control]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/ERR_ZDT_CONTROL_UNAVAILABLE/);
    }
  });

  it.each([
    [['start', fixture('app.cjs'), '--bogus']],
    [['start', fixture('app.cjs'), '--workers', 'two']],
    [['start', fixture('app.cjs'), '--workers', '0']],
    [['start', fixture('app.cjs'), '--ready', 'soon']],
    [['start', fixture('app.cjs'), '--ready-timeout', '5x']],
    [['start', fixture('app.cjs'), '--ready', 'http:healthz']],
    [['start', fixture('app.cjs'), '--ready', 'http:/healthz', '--no-auto-drain']],
    [['start', fixture('app.cjs'), '--drain-timeout']],
    [['start']],
    [['start', fixture('app.cjs'), 'extra']],
    [['reload', '--json']],
    [['status', 'now']],
    [['frobnicate']],
    [[]],
  ])('exits 2 with ERR_ZDT_USAGE for %j', async (args) => {
    const result = await zdt(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^zdt: ERR_ZDT_USAGE: /);
    expect(result.stderr).toMatch(/--help/);
  });

  it('exits 2 with ERR_ZDT_ENTRY_NOT_FOUND for a missing entry', async () => {
    const result = await zdt(['start', 'no-such-app.js', '--control', path.join(scratchDirectory(), 'c.sock')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/ERR_ZDT_ENTRY_NOT_FOUND/);
  });

  it.each([[['--help']], [['start', '--help']], [['reload', '--help']], [['status', '--help']], [['stop', '--help']]])(
    'prints help for %j',
    async (args) => {
      const result = await zdt(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: zdt/);
    },
  );
});
