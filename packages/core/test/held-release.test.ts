/**
 * A final stop's last close across workers: each worker tells the supervisor once it stopped listening
 * (worker/held-release.ts) and answers what it held when the supervisor says every worker has
 * (primary/sockets/final-close.ts). The two halves, driven by hand; the whole path runs in
 * test/stop-under-load.e2e.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { HeldRelease, RELEASE_BOUND_MS } from '../src/worker/held-release.js';
import { FinalCloseBarrier } from '../src/primary/sockets/final-close.js';
import type { WorkerHandle } from '../src/primary/workers/handle.js';

const settled = async (promise: Promise<void>) => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('HeldRelease (the worker)', () => {
  it('tells the supervisor once every tracked server closed, and answers when told', async () => {
    let told = 0;
    const release = new HeldRelease(() => told++);
    const first = release.track(Date.now() + 60_000);
    const second = release.track(Date.now() + 60_000);
    release.seal();
    const firstReleased = first.closed();
    expect(told).toBe(0);
    const secondReleased = second.closed();
    expect(told).toBe(1);
    expect(await settled(firstReleased)).toBe(false);
    release.release();
    expect(await settled(firstReleased)).toBe(true);
    expect(await settled(secondReleased)).toBe(true);
  });

  it('with nothing to close, tells the supervisor when sealed', () => {
    let told = 0;
    new HeldRelease(() => told++).seal();
    expect(told).toBe(1);
  });

  it('answers after RELEASE_BOUND_MS when the supervisor never says', async () => {
    const release = new HeldRelease(() => {});
    const ticket = release.track(Date.now() + 60_000);
    release.seal();
    const began = Date.now();
    await ticket.closed();
    expect(Date.now() - began).toBeGreaterThanOrEqual(RELEASE_BOUND_MS - 5);
  });

  it('docs/explanation/connections.md gives the code’s bound', () => {
    const page = readFileSync(new URL('../../../docs/explanation/connections.md', import.meta.url), 'utf8');
    expect(page).toContain(`or after ${RELEASE_BOUND_MS / 1000} s at most`);
  });

  it('answers halfway to the drain deadline when that comes before RELEASE_BOUND_MS', async () => {
    vi.useFakeTimers();
    try {
      const release = new HeldRelease(() => {});
      const ticket = release.track(Date.now() + 400);
      release.seal();
      let answered = false;
      void ticket.closed().then(() => (answered = true));
      await vi.advanceTimersByTimeAsync(199);
      expect(answered).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(answered).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('without a supervisor, answers at once', async () => {
    const release = new HeldRelease(undefined);
    const ticket = release.track(Date.now() + 60_000);
    release.seal();
    expect(await settled(ticket.closed())).toBe(true);
  });
});

describe('FinalCloseBarrier (the supervisor)', () => {
  const worker = (id: number) => ({ id, isAlive: true }) as unknown as WorkerHandle;

  it('releases every worker that reported once all reported or exited, once', () => {
    const [a, b, c] = [worker(1), worker(2), worker(3)];
    const released: number[] = [];
    const barrier = new FinalCloseBarrier([a, b, c], (handle) => released.push(handle.id));
    barrier.listeningClosed(a);
    barrier.gone(c);
    expect(released).toEqual([]);
    barrier.listeningClosed(b);
    expect(released).toEqual([1, 2]);
    barrier.listeningClosed(b);
    barrier.gone(a);
    expect(released).toEqual([1, 2]);
  });
});
