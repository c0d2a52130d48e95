/**
 * Readiness `http:/healthz`: a worker is ready only when its own server answers 2xx, asked by the worker side over a
 * private connection (not through the shared port), retried until the ready timeout. The apps import nothing from
 * zdt (the preload loads the worker side) and say process.send('ready') at listen, which must not count.
 */
import { describe, expect, it } from 'vitest';
import { get, isAlive, pidOf, track, waitForHttp } from '@zero-downtime/testkit';
import { InvalidOptionError, RolloutFailedError, Supervisor } from '../src/index.js';
import { readFileSync } from 'node:fs';
import { PROBE_ATTEMPT_TIMEOUT_MS, PROBE_INTERVAL_MS } from '../src/worker/readiness-probe.js';
import { fixture, releaseEntry, startSupervisor, testContext } from './helpers.js';

const context = testContext();

interface Stats {
  pid: number;
  answered: number[];
  firstOkAt: number | null;
}

const stats = async (port: number): Promise<Stats> => JSON.parse((await get(port, '/stats')).body) as Stats;

/** Some 503s, then the single 200 that made the worker ready: the probe stops once it passes. */
function expectWarmedUp({ answered }: Stats): void {
  expect(answered.length).toBeGreaterThan(1);
  expect(answered.slice(0, -1).every((status) => status === 503)).toBe(true);
  expect(answered.at(-1)).toBe(200);
}

/** One worker whose /healthz never leaves 503, with a ready timeout that a loaded machine's boot fits in; not started. */
function neverHealthy(protocol: string): Supervisor {
  const supervisor = new Supervisor({
    entry: fixture('health-never.cjs'),
    workers: 1,
    readiness: 'http:/healthz',
    readyTimeoutMs: 3_000,
    heartbeatIntervalMs: 0,
    silent: true,
    logger: false,
    env: { PROTOCOL: protocol },
  });
  supervisor.on('fork', ({ pid }) => track(pid, 'a worker of the test supervisor'));
  return supervisor;
}

describe('readiness http:PATH', () => {
  it('makes a warming worker ready only once its /healthz answers 200, at start and at a reload', async () => {
    const readyAt = new Map<number, number>();
    const { supervisor, port } = await startSupervisor({
      entry: fixture('health-app.cjs'),
      workers: 1,
      readiness: 'http:/healthz',
      env: { WARM_MS: '600' },
    });
    context.running = supervisor;
    // At a first start the port opens when the supervisor's 'accept' reaches the worker, just after start() resolves.
    await waitForHttp(port, { path: '/stats' });
    const first = await stats(port);
    expectWarmedUp(first);

    supervisor.on('ready', ({ pid }) => readyAt.set(pid, Date.now()));
    await supervisor.reload();
    const second = await stats(port);
    expect(second.pid).not.toBe(first.pid);
    expectWarmedUp(second);
    expect(readyAt.get(second.pid)).toBeGreaterThanOrEqual(second.firstOkAt!);
  });

  it('refuses a release whose /healthz never passes, with the status and body, while the old generation (200) serves', async () => {
    const scratch = releaseEntry('health-app.cjs', context.scratchDirectory());
    // A timeout that a loaded machine's boot fits in; the refused worker is given all of it.
    const { supervisor, port } = await startSupervisor({ entry: scratch.entry, workers: 1, readiness: 'http:/healthz', readyTimeoutMs: 4_000 });
    context.running = supervisor;
    const oldPid = supervisor.status().workers[0]!.pid;

    // Through the shared port the old worker answers 200: a probe that went there would pass.
    scratch.deploy('health-never.cjs');
    const error = (await supervisor.reload().catch((caught: unknown) => caught)) as RolloutFailedError;
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect(error.code).toBe('ERR_ZDT_ROLLOUT_FAILED');
    expect(error.reason).toBe('was not ready within 4000ms: GET /healthz answered 503 "warming up" (killed)');
    expect(error.message).toMatch(/nothing was replaced: the 1 worker\(s\) of generation 0 still run its code/);
    expect(isAlive(error.pid!)).toBe(false);

    expect(supervisor.status().workers.map((worker) => worker.pid)).toEqual([oldPid]);
    expect((await get(port, '/healthz')).status).toBe(200);
    expect(pidOf(await get(port))).toBe(oldPid);
  });

  it('fails a first start whose worker never passes, naming the probe', async () => {
    const supervisor = neverHealthy('http');
    context.running = supervisor;
    await expect(supervisor.start()).rejects.toThrow(/worker 1 \(pid \d+\) was not ready within 3000ms: GET \/healthz answered 503 "warming up" \(killed\)/);
  });

  it.each(['https', 'h2c', 'h2'])('probes a %s server in its own protocol: refused on 503, ready on 200', async (protocol) => {
    const failed = neverHealthy(protocol);
    context.running = failed;
    await expect(failed.start()).rejects.toThrow(/not ready within 3000ms: GET \/healthz answered 503 "warming up"/);
    await failed.stop({ force: true });

    const { supervisor } = await startSupervisor({ entry: fixture('health-app.cjs'), workers: 1, readiness: 'http:/healthz', env: { PROTOCOL: protocol, WARM_MS: '300' } });
    context.running = supervisor;
    expect(supervisor.status().workers[0]?.state).toBe('ready');
  });

  it('refuses http: readiness without the worker side (autoDrain: false), naming what it received', () => {
    const create = () => new Supervisor({ entry: fixture('health-app.cjs'), readiness: 'http:/healthz', autoDrain: false, logger: false });
    expect(create).toThrow(InvalidOptionError);
    expect(create).toThrow(/autoDrain is false.*received "http:\/healthz"/);
    expect(() => new Supervisor({ entry: fixture('health-app.cjs'), readiness: 'http:healthz' as 'message', logger: false })).toThrow(
      /Invalid option "readiness": expected .*"http:PATH".*received "http:healthz"/,
    );
  });

  it('is described with its own figures in the worker API reference', () => {
    const reference = readFileSync(new URL('../../../docs/reference/worker-api.md', import.meta.url), 'utf8');
    expect(reference).toContain(`every ${PROBE_INTERVAL_MS} ms (each attempt given ${PROBE_ATTEMPT_TIMEOUT_MS / 1000} s)`);
  });
});
