/**
 * Deploys that overwrite files in place (cp, rsync, git pull over the running release): zdt cannot bring the old
 * code back, so it must not say it did. A refused release written in place is reloaded the way the tutorial did it
 * before `zdt deploy`: what must hold is that the reload, `zdt status` and the metrics name the workers that run
 * the refused files, and that no message claims that an older generation serves on all workers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { get, killTracked, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { releasesAnswering, writeBuild } from './lib/builds.js';
import { afterEach, describe, expect, it } from 'vitest';

let directories: string[] = [];
afterEach(() => {
  killTracked();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function writeApp(directory: string, release: string, brokenOnWorkers: number[] = []): void {
  writeBuild(directory, release, brokenOnWorkers);
}

interface Status {
  serving: Array<{ workerId: number; generation: number | undefined; overwritten?: boolean }>;
  workers: Array<{ id: number; pid: number; generation: number; state: string; overwritten: boolean }>;
  lastRollout: { outcome: string; rollback?: { overwritten?: number[] } } | null;
}

async function status(control: string): Promise<Status> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Status;
}

async function releaseCounts(port: number, requests: number): Promise<Map<string, number>> {
  return new Map(Object.entries(await releasesAnswering(port, requests)));
}

async function startInPlace() {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'zdt-in-place-'));
  directories.push(directory);
  writeApp(directory, 'v1');
  const control = path.join(directory, 'control.sock');
  const running = zdtStart(['app.cjs', '--workers', '2', '--control', control, '--metrics', '127.0.0.1:0'], { cwd: directory });
  await running.waitForLine(/supervisor pid \d+ running/);
  const metricsPort = Number(/metrics.*127\.0\.0\.1:(\d+)/.exec(running.output.join('\n'))?.[1]);
  return { directory, control, running, port: running.port(), metricsPort };
}

async function overwrittenGauge(metricsPort: number): Promise<number> {
  const text = (await get(metricsPort, '/metrics')).body;
  return Number(/^zdt_workers_overwritten (\d+)$/m.exec(text)?.[1]);
}

describe('a refused release written in place is told as it is', () => {
  it('fails on worker 2 of 2: the reload, status and metrics name the worker running the refused files', async () => {
    const { directory, control, running, port, metricsPort } = await startInPlace();
    writeApp(directory, 'v2', [2]);
    const reload = await zdt(['reload', '--control', control]);

    expect(reload.code).toBe(1);
    expect(reload.stdout).toMatch(/warning: generation 1 was written over generation 0's files in place/);
    expect(reload.stderr).toMatch(/1 of 2 workers run the refused files \(worker 1, forked again by the rollback under generation 0's number\)/);
    expect(reload.stderr).toMatch(/deploy with 'zdt deploy'/);
    expect(`${reload.stdout}${reload.stderr}`).not.toMatch(/serves on all/);
    const warnings = () => running.output.filter((line) => /generation \d+ was written over generation \d+'s files in place/.test(line));
    expect(warnings()).toHaveLength(1);

    const after = await status(control);
    expect(after.serving).toEqual([{ workerId: 1, generation: 0, overwritten: true }, { workerId: 2, generation: 0 }]);
    expect(after.lastRollout?.rollback?.overwritten).toEqual([1]);
    const text = await zdt(['status', '--control', control]);
    expect(text.stdout).toMatch(/serving: worker 1 runs files overwritten in place since generation 0 was forked, worker 2 runs generation 0/);
    expect(text.stdout).toMatch(/code overwritten in place: 1 of 2 worker\(s\) \(worker 1 pid \d+\)/);
    expect(text.stdout).not.toMatch(/serves on all/);
    expect(await overwrittenGauge(metricsPort)).toBe(1);
    // What the message says is what the clients get: the refused release answers on worker 1.
    expect((await releaseCounts(port, 20)).get('v2')).toBeGreaterThan(0);

    // A good release written in place next: deployed, and the warning is not repeated (once per supervisor).
    writeApp(directory, 'v3');
    const good = await zdt(['reload', '--control', control]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).not.toMatch(/warning/);
    expect(warnings()).toHaveLength(1);
    expect(await releaseCounts(port, 10)).toEqual(new Map([['v3', 10]]));

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect((await running.exited).code).toBe(0);
  });

  it('fails on worker 1: nothing was replaced, and a worker killed afterwards is named as running the refused files', async () => {
    const { directory, control, running, port, metricsPort } = await startInPlace();
    writeApp(directory, 'v2', [1]);
    const reload = await zdt(['reload', '--control', control]);

    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(/nothing was replaced: the 2 worker\(s\) of generation 0 still run its code, forked before the overwrite, but a worker restarted now \(a crash\) runs the refused files/);
    expect(`${reload.stdout}${reload.stderr}`).not.toMatch(/serves on all/);
    expect(await overwrittenGauge(metricsPort)).toBe(0);

    const before = await status(control);
    const second = before.workers.find((worker) => worker.id === 2)!;
    process.kill(second.pid, 'SIGKILL');
    await running.waitForLine(/restarting generation 0 from files overwritten in place since it was forked/);
    const after = await waitFor(async () => {
      const now = await status(control);
      return now.workers.some((worker) => worker.id === 2 && worker.state === 'ready' && worker.pid !== second.pid) ? now : undefined;
    }, 'worker 2 restarted');
    expect(after.serving).toEqual([{ workerId: 1, generation: 0 }, { workerId: 2, generation: 0, overwritten: true }]);
    const text = await zdt(['status', '--control', control]);
    expect(text.stdout).toMatch(/code overwritten in place: 1 of 2 worker\(s\) \(worker 2 pid \d+\)/);
    expect(text.stdout).not.toMatch(/serves on all/);
    expect(await overwrittenGauge(metricsPort)).toBe(1);
    expect((await releaseCounts(port, 20)).get('v2')).toBeGreaterThan(0);

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect((await running.exited).code).toBe(0);
  });
});
