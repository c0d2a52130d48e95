import { describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, fixture, get, isAlive, pidOf, testContext, waitFor } from './helpers.js';

const context = testContext();
const { tracker, cleanups } = context;

function scratchDirectory(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdt-orphans-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Running {
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  workerPids: () => number[];
  port: () => number;
}

/** `zdt start` in the foreground; every worker pid it prints is tracked for cleanup. (Copied from cli.test.ts.) */
function zdtStart(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Running {
  const child = spawn(process.execPath, [CLI, 'start', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  tracker.track(child.pid);
  const output: string[] = [];
  const pids: number[] = [];
  let port = 0;
  let partial = '';
  const collect = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      output.push(line);
      const forked = /forked \(pid (\d+)/.exec(line);
      if (forked) {
        pids.push(Number(forked[1]));
        tracker.track(Number(forked[1]));
      }
      const listening = /listening on [\d.]+:(\d+)/.exec(line);
      if (listening && !port) port = Number(listening[1]);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output, exited, workerPids: () => [...pids], port: () => port };
}

/** (Copied from cli.test.ts.) */
function zdt(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function waitForLine(running: Running, pattern: RegExp, what: string): Promise<string> {
  return waitFor(() => running.output.find((line) => pattern.test(line)), what);
}

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
 * GET / before it), SIGKILLs the supervisor and waits for the idle worker to exit on its own. The hung one is left.
 */
async function orphanAHungWorker(entry: string, control: string): Promise<Orphaned> {
  const first = zdtStart([entry, '--workers', '2', '--control', control]);
  const running = await waitForLine(first, /supervisor pid \d+ running/, 'the first supervisor to run');
  const supervisorPid = Number(/supervisor pid (\d+)/.exec(running)![1]);
  expect(supervisorPid).toBe(first.child.pid);
  await waitFor(() => first.port() > 0, 'the first supervisor to print its port');
  const workerPids = first.workerPids();
  expect(workerPids).toHaveLength(2);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const hungPid = pidOf(await get(first.port(), '/', agent));
  expect(workerPids).toContain(hungPid);
  expect((await get(first.port(), '/hang', agent)).body).toBe('hanging\n');
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
async function expectServesThenStops(second: Running, control: string): Promise<void> {
  const status = zdt(['status', '--json', '--control', control]);
  expect(status.code).toBe(0);
  const parsed = JSON.parse(status.stdout) as { pid: number; state: string; workers: Array<{ pid: number; state: string }> };
  expect(parsed.pid).toBe(second.child.pid);
  expect(parsed.state).toBe('running');
  expect(parsed.workers.map((worker) => worker.state)).toEqual(['ready', 'ready']);
  await waitFor(() => second.port() > 0, 'the second supervisor to print its port');
  expect(second.workerPids()).toContain(pidOf(await get(second.port())));

  const stop = zdt(['stop', '--control', control]);
  expect(stop.code).toBe(0);
  expect(await second.exited).toEqual({ code: 0, signal: null });
  expect(second.workerPids().filter(isAlive)).toEqual([]);
}

// Linux only, like the feature: it reads /proc.
describe('workers left behind by a SIGKILLed supervisor', () => {
  it('a new zdt start on the same control path stops the hung orphan (SIGTERM) and says so, then runs normally', async () => {
    const control = path.join(scratchDirectory(), 'control.sock');
    const { supervisorPid, hungPid } = await orphanAHungWorker(fixture('app.cjs'), control);

    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    const summary = await waitForLine(second, /stopped \d+ orphaned worker/, 'the orphan summary');
    expect(summary).toMatch(new RegExp(`stopped 1 orphaned worker left by supervisor pid ${supervisorPid}: pid ${hungPid} \\(exited on SIGTERM\\)$`));
    const found = second.output.filter((line) => /orphaned worker pid/.test(line));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`found orphaned worker pid ${hungPid} \\(worker \\d, generation 0\\) left by supervisor pid ${supervisorPid}; stopping it$`));
    await waitFor(() => !isAlive(hungPid), `orphan pid ${hungPid} to be gone`);

    const running = await waitForLine(second, /supervisor pid \d+ running/, 'the second supervisor to run');
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
    const summary = await waitForLine(second, /stopped \d+ orphaned worker/, 'the orphan summary');
    expect(summary).toMatch(
      new RegExp(`stopped 1 orphaned worker left by supervisor pid ${supervisorPid}: pid ${hungPid} \\(SIGKILL after SIGTERM was ignored\\)$`),
    );
    await waitFor(() => !isAlive(hungPid), `orphan pid ${hungPid} to be gone`);
    await waitForLine(second, /supervisor pid \d+ running/, 'the second supervisor to run');
    await expectServesThenStops(second, control);
  });

  it('a hung orphan of a supervisor on a different control path is left alone', async () => {
    const dir = scratchDirectory();
    const { hungPid } = await orphanAHungWorker(fixture('app.cjs'), path.join(dir, 'other.sock'));

    const control = path.join(dir, 'control.sock');
    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    await waitForLine(second, /supervisor pid \d+ running/, 'the second supervisor to run');
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
    await waitForLine(first, /supervisor pid \d+ running/, 'the first supervisor to run');
    const firstWorkers = first.workerPids();
    expect(firstWorkers).toHaveLength(2);
    // Nothing proves the path taken any more: the second start gets it.
    rmSync(control);

    const second = zdtStart([fixture('app.cjs'), '--workers', '2', '--control', control]);
    await waitForLine(second, /supervisor pid \d+ running/, 'the second supervisor to run');
    expect(second.output.filter((line) => /orphaned worker/.test(line))).toEqual([]);
    expect(firstWorkers.filter(isRunning)).toEqual(firstWorkers);

    await expectServesThenStops(second, control);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(firstWorkers.filter(isAlive)).toEqual([]);
  });
});
