import { describe, expect, it } from 'vitest';
import type { Supervisor, WorkerExit } from '../src/index.js';
import { get, isAlive, pidOf, waitFor } from '@zero-downtime/testkit';
import { fixture, startSupervisor, testContext } from './helpers.js';

const context = testContext();

function recordExits(supervisor: Supervisor) {
  const exits = new Map<number, WorkerExit>();
  supervisor.on('exit', ({ pid, ...exit }) => exits.set(pid, exit));
  return exits;
}

describe('a running worker is replaced start-first: hung, over its memory limit, or asking to be', () => {
  it('replaces a hung worker start-first, then kills it', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1, env: { FIXTURE_PROTOCOL: '1' }, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1_500 });
    context.running = supervisor;
    const exits = recordExits(supervisor);
    const hungPids: number[] = [];
    supervisor.on('hung', ({ pid }) => hungPids.push(pid));
    const oldPid = supervisor.status().workers[0]!.pid;
    let replacementReadyWhileOldAlive = false;
    supervisor.on('ready', () => {
      replacementReadyWhileOldAlive = isAlive(oldPid);
    });

    await get(port, '/hang');
    await waitFor(() => exits.has(oldPid), 'the hung worker to be killed');
    expect(hungPids).toEqual([oldPid]);
    expect(replacementReadyWhileOldAlive).toBe(true);
    expect(exits.get(oldPid)).toMatchObject({ signal: 'SIGKILL', expected: true, stopReason: 'hung' });
    const [replacement] = supervisor.status().workers;
    expect(replacement).toMatchObject({ id: 1, state: 'ready', restarts: 1 });
    expect(pidOf(await get(port))).toBe(replacement!.pid);
  });

  it('does not ping a plain app that never said hello', async () => {
    // Nothing preloaded (autoDrain false), so nothing in the worker says hello. A supervisor that pinged it anyway
    // would call it hung 100 ms after its first ping: well inside the 20 requests below, whatever the machine's load.
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1, autoDrain: false, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 100 });
    context.running = supervisor;
    const hung: number[] = [];
    supervisor.on('hung', ({ pid }) => hung.push(pid));
    const pid = supervisor.status().workers[0]!.pid;
    // Many heartbeat periods pass while it serves; it must stay the same worker.
    for (let request = 0; request < 20; request++) {
      expect(pidOf(await get(port))).toBe(pid);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(hung).toEqual([]);
  });

  it('replaces a worker over its memory limit start-first and drains it', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1, maxMemoryMb: 150, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 10_000 });
    context.running = supervisor;
    const exits = recordExits(supervisor);
    const memoryEvents: Array<{ pid: number; rssBytes: number; limitBytes: number }> = [];
    supervisor.on('memory', (event) => memoryEvents.push(event));
    const oldPid = supervisor.status().workers[0]!.pid;

    await get(port, '/grow?mb=200');
    await waitFor(() => exits.has(oldPid), 'the worker over its limit to be drained');
    expect(memoryEvents[0]).toMatchObject({ pid: oldPid, limitBytes: 150 * 1024 * 1024 });
    expect(memoryEvents[0]!.rssBytes).toBeGreaterThan(150 * 1024 * 1024);
    // Drained through the stop protocol (disconnect, clean exit), not killed.
    expect(exits.get(oldPid)).toMatchObject({ code: 0, signal: null, expected: true, stopReason: 'memory' });
    const [replacement] = supervisor.status().workers;
    expect(replacement).toMatchObject({ id: 1, state: 'ready' });
    expect(replacement!.pid).not.toBe(oldPid);
    expect(pidOf(await get(port))).toBe(replacement!.pid);
  });

  it("replaces a worker that sends {zdt:'replace'}, then shuts it down", async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1 });
    context.running = supervisor;
    const exits = recordExits(supervisor);
    const oldPid = supervisor.status().workers[0]!.pid;
    await get(port, '/replace');
    await waitFor(() => exits.has(oldPid), 'the worker to be replaced');
    expect(exits.get(oldPid)).toMatchObject({ code: 0, expected: true, stopReason: 'replace' });
    expect(pidOf(await get(port))).not.toBe(oldPid);
  });
});
