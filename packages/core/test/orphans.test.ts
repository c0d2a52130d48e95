import { describe, expect, it } from 'vitest';
import http from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { get, isAlive, pidOf, waitFor, zdt, zdtStart, type RunningZdt } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();
const { scratchDirectory } = context;

/** State and CPU time (user + system, in clock ticks) from /proc/<pid>/stat; undefined once the process is gone. */
function procStat(pid: number): { state: string; cpuTicks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** Running and not a zombie. */
function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

interface Orphaned {
  supervisorPid: number;
  hungPid: number;
  idlePid: number;
}

/**
 * Runs `zdt start` with two workers, hangs one (GET /hang on a kept-alive connection whose worker is known from a
 * GET /ping before it), SIGKILLs the supervisor and waits for the idle worker to exit on its own. The hung one is left.
 */
async function orphanAHungWorker(entry: string, control: string, flags: string[] = []): Promise<Orphaned> {
  const first = zdtStart([entry, '--workers', '2', '--control', control, ...flags]);
  const running = await first.waitForLine(/supervisor pid \d+ running/);
  const supervisorPid = Number(/supervisor pid (\d+)/.exec(running)![1]);
  expect(supervisorPid).toBe(first.child.pid);
  await waitFor(() => first.port() > 0, 'the first supervisor to print its port');
  const workerPids = first.workerPids();
  expect(workerPids).toHaveLength(2);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const hungPid = pidOf(await get(first.port(), '/ping', { agent }));
  expect(workerPids).toContain(hungPid);
  expect((await get(first.port(), '/hang', { agent })).body).toBe('hanging\n');
  agent.destroy();
  const idlePid = workerPids.find((pid) => pid !== hungPid)!;
  // It busy-loops 20ms after answering; wait until it has burnt a quarter second of CPU, so it is stuck for good.
  const ticksBefore = procStat(hungPid)!.cpuTicks;
  await waitFor(() => (procStat(hungPid)?.cpuTicks ?? 0) - ticksBefore >= 25, `worker pid ${hungPid} to busy-loop`);

  first.child.kill('SIGKILL');
  expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
  // The idle worker sees its IPC channel drop and exits; the hung one never runs its event loop again.
  await waitFor(() => !isRunning(idlePid), `the idle worker pid ${idlePid} to exit by itself`);
  expect(isRunning(hungPid)).toBe(true);
  expect(procStat(hungPid)!.state).toBe('R');
  return { supervisorPid, hungPid, idlePid };
}

/** The second supervisor serves normally: two ready workers of its own answering requests, then a clean stop. */
async function expectServesThenStops(second: RunningZdt, control: string): Promise<void> {
  const status = await zdt(['status', '--json', '--control', control]);
  expect(status.code).toBe(0);
  const parsed = JSON.parse(status.stdout) as { pid: number; state: string; workers: Array<{ pid: number; state: string }> };
  expect(parsed.pid).toBe(second.child.pid);
  expect(parsed.state).toBe('running');
  expect(parsed.workers.map((worker) => worker.state)).toEqual(['ready', 'ready']);
  await waitFor(() => second.port() > 0, 'the second supervisor to print its port');
  expect(second.workerPids()).toContain(pidOf(await get(second.port())));

  const stop = await zdt(['stop', '--control', control]);
  expect(stop.code).toBe(0);
  expect(await second.exited).toEqual({ code: 0, signal: null });
  expect(second.workerPids().filter(isAlive)).toEqual([]);
}

// Linux only, like the feature: it reads /proc.
describe('workers left behind by a SIGKILLed supervisor', () => {
  it('a new zdt start on the same control path stops the hung orphan (SIGTERM) and says so, then runs normally', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    // Nothing preloaded, no SIGTERM handler: the default action ends the orphan even with its loop blocked.
    const { supervisorPid, hungPid } = await orphanAHungWorker(fixture('app.cjs'), control, ['--no-auto-drain']);

    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    const summary = await second.waitForLine(/stopped \d+ orphaned worker/);
    expect(summary).toMatch(new RegExp(`stopped 1 orphaned worker left by supervisor pid ${supervisorPid}: pid ${hungPid} \\(exited on SIGTERM\\)$`));
    const found = second.output.filter((line) => /orphaned worker pid/.test(line));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`found orphaned worker pid ${hungPid} \\(worker \\d, generation 0\\) left by supervisor pid ${supervisorPid}; stopping it$`));
    await waitFor(() => !isAlive(hungPid), `orphan pid ${hungPid} to be gone`);

    const running = await second.waitForLine(/supervisor pid \d+ running/);
    // Orphans are dealt with before the new workers are forked.
    expect(second.output.indexOf(summary)).toBeLessThan(second.output.indexOf(running));
    expect(second.output.findIndex((line) => /forked \(pid/.test(line))).toBeGreaterThan(second.output.indexOf(summary));
    await expectServesThenStops(second, control);
  });

  it('an orphan whose SIGTERM handler never runs (busy loop) gets SIGKILL', async () => {
    const dir = scratchDirectory();
    const control = path.join(dir, 'control.sock');
    // An app with the usual graceful SIGTERM handler: a hung event loop never gets to run it.
    const entry = path.join(dir, 'graceful-app.cjs');
    writeFileSync(entry, `process.on('SIGTERM', () => process.exit(0));\nrequire(${JSON.stringify(fixture('app.cjs'))});\n`);
    const { supervisorPid, hungPid } = await orphanAHungWorker(entry, control);

    const second = zdtStart([entry, '--workers', '2', '--control', control]);
    const summary = await second.waitForLine(/stopped \d+ orphaned worker/);
    expect(summary).toMatch(
      new RegExp(`stopped 1 orphaned worker left by supervisor pid ${supervisorPid}: pid ${hungPid} \\(SIGKILL after SIGTERM was ignored\\)$`),
    );
    await waitFor(() => !isAlive(hungPid), `orphan pid ${hungPid} to be gone`);
    await second.waitForLine(/supervisor pid \d+ running/);
    await expectServesThenStops(second, control);
  });

  it('a hung orphan of a supervisor on a different control path is left alone', async () => {
    const dir = scratchDirectory();
    const { hungPid } = await orphanAHungWorker(fixture('app.cjs'), path.join(dir, 'other.sock'));

    const control = path.join(dir, 'control.sock');
    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    await second.waitForLine(/supervisor pid \d+ running/);
    expect(second.output.filter((line) => /orphaned worker/.test(line))).toEqual([]);
    expect(isRunning(hungPid)).toBe(true);
    await expectServesThenStops(second, control);
    expect(isRunning(hungPid)).toBe(true);

    process.kill(hungPid, 'SIGKILL');
    await waitFor(() => !isAlive(hungPid), `orphan pid ${hungPid} to be gone`);
  });

  it('the workers of a live supervisor are never taken for orphans, even when its control socket file was removed', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const first = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    await first.waitForLine(/supervisor pid \d+ running/);
    const firstWorkers = first.workerPids();
    expect(firstWorkers).toHaveLength(2);
    // Nothing proves the path taken any more: the second start gets it.
    rmSync(control);

    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    await second.waitForLine(/supervisor pid \d+ running/);
    expect(second.output.filter((line) => /orphaned worker/.test(line))).toEqual([]);
    expect(firstWorkers.filter(isRunning)).toEqual(firstWorkers);

    await expectServesThenStops(second, control);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(firstWorkers.filter(isAlive)).toEqual([]);
  });
});
