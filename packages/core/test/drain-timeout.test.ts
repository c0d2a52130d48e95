/**
 * One meaning for the drain time: under the supervisor, a request in flight when its worker starts draining may run
 * for the supervisor's `drainTimeoutMs`; an app's own `drainTimeoutMs` can only shorten that; cleanup hooks get the
 * supervisor's cleanup window after it, and the worker is killed only once both have passed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { get, request, waitFor } from '@zero-downtime/testkit';
import type { Supervisor } from '../src/index.js';
import { fixture, startSupervisor, testContext } from './helpers.js';
import { Fixture, ipcVerb } from './worker-harness.js';
import { FULL, tier } from '../../../test/lib/tier.js';

const context = testContext();

interface AppEvent {
  event: string;
  pid: number;
  report?: { reason: string; clean: boolean; cut: number };
  [key: string]: unknown;
}

/** The fixture's events, which it appends to a file because a supervised worker's stdout is not ours. */
function eventLog(): { env: Record<string, string>; events: () => AppEvent[] } {
  const file = path.join(context.scratchDirectory(), 'events.jsonl');
  return {
    env: { EVENTS_FILE: file, IDLE_GRACE_MS: '100' },
    events: () =>
      existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as AppEvent)
        : [],
  };
}

/** Resolves with the exit of the worker with this pid, as the supervisor reports it. */
function exitOf(supervisor: Supervisor, pid: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    supervisor.on('exit', (exit) => {
      if (exit.pid === pid) resolve({ code: exit.code, signal: exit.signal });
    });
  });
}

/** Sends a request that still needs `ms` once its worker starts draining; resolves with the reply or the error code. */
async function requestOutlivingDrainStart(port: number, ms: number, events: () => AppEvent[]): Promise<{ reply: Promise<unknown>; pid: number }> {
  const reply = get(port, `/slow?ms=${ms}&from=drain`, { timeoutMs: 60_000 }).then(
    (answer) => ({ status: answer.status, body: answer.body }) as unknown,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  const started = await waitFor(() => events().find((event) => event.event === 'slow-started'), 'the slow request to reach a worker');
  return { reply, pid: started.pid };
}

const cleanupOf = (events: AppEvent[], pid: number) => events.find((event) => event.event === 'cleanup' && event.pid === pid);

describe('the drain time under the supervisor', () => {
  // The worker used to take min(its own 10 s default, 75% of the supervisor's budget). The full tier shows both at
  // once (12 s budget, a request that needs 10.5 s: past the 10 s default and past 9 s); the fast tier shows the 75%
  // (3 s budget, a request that needs 2.4 s: past 2.25 s) in a quarter of the time.
  const [budgetMs, needsMs] = tier([3_000, 2_400], [12_000, 10_500]);
  it(`lets a request in flight at a reload run for the supervisor's drainTimeoutMs (${budgetMs / 1000} s)${FULL ? ", past the worker's own 10 s default" : ''}`, async () => {
    const log = eventLog();
    const { supervisor, port } = await startSupervisor({ entry: fixture('worker-app.cjs'), workers: 1, drainTimeoutMs: budgetMs, env: log.env });
    context.running = supervisor;
    const slow = await requestOutlivingDrainStart(port, needsMs, log.events);
    const exited = exitOf(supervisor, slow.pid);

    await supervisor.reload();
    expect(await slow.reply).toEqual({ status: 200, body: 'slow done' });
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(cleanupOf(log.events(), slow.pid)?.report).toMatchObject({ reason: 'reload', clean: true, cut: 0 });
  });

  it('lets an app shorten it with its own drainTimeoutMs: the request is cut at the app\'s limit and reported', async () => {
    const log = eventLog();
    // The supervisor's 5 s would let this request finish; the app's own 1 s does not.
    const { supervisor, port } = await startSupervisor({ entry: fixture('worker-app.cjs'), workers: 1, drainTimeoutMs: 5_000, env: { ...log.env, DRAIN_TIMEOUT_MS: '1000' } });
    context.running = supervisor;
    const slow = await requestOutlivingDrainStart(port, 3_000, log.events);
    const exited = exitOf(supervisor, slow.pid);

    await supervisor.stop();
    expect(await slow.reply).toBe('ECONNRESET');
    expect(await exited).toEqual({ code: 1, signal: null });
    expect(cleanupOf(log.events(), slow.pid)?.report).toMatchObject({ reason: 'stop', clean: false, cut: 1 });
  });

  it('gives cleanup hooks the cleanup window after a drain: the worker is not killed while a hook still runs', async () => {
    const log = eventLog();
    // The request ends 1.5 s into the 2 s drain, then a hook takes 2.5 s: past the drain time, inside the 5 s cleanup window.
    const { supervisor, port } = await startSupervisor({ entry: fixture('worker-app.cjs'), workers: 1, drainTimeoutMs: 2_000, env: { ...log.env, SLOW_HOOK_MS: '2500' } });
    context.running = supervisor;
    const slow = await requestOutlivingDrainStart(port, 1_500, log.events);
    const exited = exitOf(supervisor, slow.pid);

    await supervisor.stop();
    expect(await slow.reply).toEqual({ status: 200, body: 'slow done' });
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(log.events().some((event) => event.event === 'slow-hook-done' && event.pid === slow.pid)).toBe(true);
    expect(cleanupOf(log.events(), slow.pid)?.report).toMatchObject({ reason: 'stop', clean: true, cut: 0 });
  });

  it('bounds all cleanup hooks together by the cleanup window, so the worker exits by itself before the supervisor kills it', async () => {
    const log = eventLog();
    // A hook that never settles, with a 60 s bound of its own: the cleanup window (drain 1 s + cleanup 1.5 s) ends it.
    const { supervisor, port } = await startSupervisor({
      entry: fixture('worker-app.cjs'),
      workers: 1,
      drainTimeoutMs: 1_000,
      cleanupTimeoutMs: 1_500,
      env: { ...log.env, HANGING_HOOK_MS: '60000' },
    });
    context.running = supervisor;
    const pid = (await waitFor(() => log.events().find((event) => event.event === 'listening'), 'the worker to listen')).pid;
    expect(await get(port)).toMatchObject({ status: 200 });
    const exited = exitOf(supervisor, pid);

    await supervisor.stop();
    // Exit status 1 (a hook timed out), from the worker itself: not a SIGKILL.
    expect(await exited).toEqual({ code: 1, signal: null });
  });

  it('drains for the supervisor\'s drain timeout from its environment: an app\'s longer drainTimeoutMs cannot lengthen it', async () => {
    const worker = new Fixture('worker-app.cjs', {
      ipc: true,
      env: { ZDT_SUPERVISED: '1', ZDT_DRAIN_TIMEOUT_MS: '2000', DRAIN_TIMEOUT_MS: '20000', IDLE_GRACE_MS: '100' },
    });
    const port = await worker.port();
    const slow = request(port, { path: '/slow?ms=60000' }).catch((error: NodeJS.ErrnoException) => error.code);
    await worker.waitForEvent('slow-started');
    worker.child.send({ zdt: 'shutdown', reason: 'reload' });
    expect((await worker.waitForEvent('ipc', ipcVerb('drained'))).message).toMatchObject({ zdt: 'drained', clean: false, cut: 1 });
    expect(await slow).toBe('ECONNRESET');
    const cleanup = await worker.waitForEvent('cleanup', (event) => event.name === 'third');
    // Which limit applied (the supervisor's 2 s, not the app's 20 s) is told apart by an order of magnitude, not by a
    // tight timing bound.
    expect((cleanup.report as { durationMs: number }).durationMs).toBeLessThan(20_000);
    expect(await worker.waitForExit()).toEqual({ code: 1, signal: null });
  });
});
