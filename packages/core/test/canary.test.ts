/**
 * Canary analysis with real workers, real sockets and real status codes: a release that answers 500 (to every
 * request, or to 20% of them) is refused after its canary window and rolled back, and only the canary batch answered
 * 5xx meanwhile; a healthy release is accepted and rolled onto every worker.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { RolloutFailedError, type Supervisor } from '../src/index.js';
import type { CanaryReport } from '../src/primary/canary/canary.js';
import { waitFor } from '@zero-downtime/testkit';
import { fixture, startSupervisor, testContext } from './helpers.js';

const context = testContext();

interface Answer {
  at: number;
  status: number;
  pid: number;
  generation: number;
}

/** Clients that open a new connection per request and keep every answer, until stopped. */
function startClients(port: number, clients: number) {
  const answers: Answer[] = [];
  const errors: string[] = [];
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
        response.resume();
        response.on('end', () => {
          answers.push({ at: Date.now(), status: response.statusCode ?? 0, pid: Number(response.headers['x-pid']), generation: Number(response.headers['x-generation']) });
          resolve();
        });
      });
      request.on('error', (error) => {
        errors.push(error.message);
        resolve();
      });
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    answers,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Records the canary window's start and verdict. */
function watchCanary(supervisor: Supervisor) {
  const seen: { startedAt?: number; verdictAt?: number; report?: CanaryReport } = {};
  supervisor.on('canary:start', () => (seen.startedAt = Date.now()));
  supervisor.on('canary:verdict', (report) => {
    seen.verdictAt = Date.now();
    seen.report = report;
  });
  return seen;
}

const options = { entry: fixture('canary-app.cjs'), workers: 2, env: { FIXTURE_FAIL_RATE: '0' }, canaryMinRequests: 50 };

describe('canary analysis', () => {
  it('refuses a release that answers 500 to every request, rolls it back, and only the canary answered 5xx', async () => {
    const { supervisor, port } = await startSupervisor(options);
    context.running = supervisor;
    const oldPids = supervisor.status().workers.map((worker) => worker.pid);
    const seen = watchCanary(supervisor);
    const clients = startClients(port, 4);
    const error = await supervisor.reload({ env: { FIXTURE_FAIL_RATE: '1' }, canaryMs: 1_500 }).catch((caught: unknown) => caught);
    const rejectedAt = Date.now();
    const after = clients.answers.length;
    while (clients.answers.length < after + 50) await new Promise((resolve) => setTimeout(resolve, 20));
    await clients.stop();

    expect(error).toBeInstanceOf(RolloutFailedError);
    const failure = error as RolloutFailedError;
    console.log(`refused: ${failure.message}`);
    expect(failure.message).toMatch(
      /^Rollout of generation 1 failed: canary: \d+ requests, \d+ 5xx \(100\.0%\) vs 0 of \d+ \(0\.0%\) on generation 0 \(one-sided Fisher p[=<][\d.e-]+ < 0\.001, \+100\.0 points > 1-point margin\); rolled back 1 worker to generation 0: generation 0 serves on all 2 workers$/,
    );
    expect(seen.report).toMatchObject({ generation: 1, outcome: 'fail', decision: 'refused' });
    expect(seen.report!.canary.requests).toBeGreaterThanOrEqual(50);
    expect(seen.report!.canary.errors).toBe(seen.report!.canary.requests);

    // Every 5xx came from the canary batch, from its window until its rollback replacement was ready (start-first);
    // none after the reload answered, and nothing failed at the socket level.
    const failed = clients.answers.filter((answer) => answer.status >= 500);
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed.map((answer) => answer.generation))).toEqual(new Set([1]));
    expect(new Set(failed.map((answer) => answer.pid)).size).toBe(1);
    const afterVerdict = failed.filter((answer) => answer.at > seen.verdictAt!).length;
    console.log(`5xx seen by clients: ${failed.length}, of which ${afterVerdict} after the verdict (until the refused canary stopped accepting); ${clients.answers.length} answers in all`);
    expect(failed.every((answer) => answer.at >= seen.startedAt! - 500 && answer.at <= rejectedAt)).toBe(true);
    // At the verdict the refused canary stops taking requests (it drains while its slot is refilled): the 5xx are the
    // window's, not the rollback's (start-first, it served 137 of 250 5xx after the verdict, while its replacement booted).
    expect(afterVerdict).toBeLessThan(failed.length / 4);
    expect(clients.errors).toEqual([]);
    // Afterwards no worker of the refused release serves.
    const status = supervisor.status();
    expect(status.workers.every((worker) => worker.generation === 0)).toBe(true);
    expect(status.lastCanary).toMatchObject({ generation: 1, decision: 'refused' });
    expect(status.canary).toBeNull();
    expect(clients.answers.slice(after).every((answer) => answer.status === 200 && answer.generation === 0)).toBe(true);
    expect(status.workers.some((worker) => oldPids.includes(worker.pid))).toBe(true);
    const metrics = await supervisor.metricsText();
    expect(metrics).toMatch(/zdt_canary_verdicts_total\{outcome="fail",decision="refused"\} 1/);
    expect(metrics).toMatch(/zdt_canary_errors_total\{generation="1",role="canary"\} [1-9]/);
  });

  it('refuses a release that fails 20% of requests', async () => {
    const { supervisor, port } = await startSupervisor(options);
    context.running = supervisor;
    const seen = watchCanary(supervisor);
    const clients = startClients(port, 4);
    const error = await supervisor.reload({ env: { FIXTURE_FAIL_RATE: '0.2' }, canaryMs: 2_000 }).catch((caught: unknown) => caught);
    await clients.stop();
    expect(error).toBeInstanceOf(RolloutFailedError);
    console.log(`refused: ${(error as Error).message}`);
    expect(seen.report).toMatchObject({ outcome: 'fail', decision: 'refused' });
    expect(supervisor.status().workers.every((worker) => worker.generation === 0)).toBe(true);
  });

  it('accepts a healthy release and rolls it onto every worker', async () => {
    const { supervisor, port } = await startSupervisor({ ...options, canaryMs: 1_000 });
    context.running = supervisor;
    const clients = startClients(port, 4);
    const result = await supervisor.reload({ env: { FIXTURE_FAIL_RATE: '0' } });
    await clients.stop();
    console.log(`accepted: ${result.canary?.message}`);
    expect(result.canary).toMatchObject({ generation: 1, outcome: 'pass', decision: 'accepted' });
    expect(result.canary!.message).toMatch(/^canary: \d+ requests, 0 5xx \(0\.0%\) vs 0 of \d+ \(0\.0%\) on generation 0 \(one-sided Fisher p=1 >= 0\.001\); accepted$/);
    expect(supervisor.status().workers.every((worker) => worker.generation === 1)).toBe(true);
    expect(clients.answers.every((answer) => answer.status === 200)).toBe(true);
    expect(clients.errors).toEqual([]);
  });

  it('with too little traffic and thin traffic "fail", refuses and says why', async () => {
    const { supervisor } = await startSupervisor({ ...options, canaryThinTraffic: 'fail' });
    context.running = supervisor;
    const error = (await supervisor.reload({ canaryMs: 300 }).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect(error.message).toMatch(/canary: 0 requests, 0 5xx \(-\) vs 0 of 0 \(-\) on generation 0: fewer than the 50 canary requests a verdict needs \(thin traffic: fail\)/);
    expect(supervisor.status().workers.every((worker) => worker.generation === 0)).toBe(true);
  });
});

describe('a refused canary whose slot could not be refilled at once', () => {
  it('is refilled with the previous release by the rollback retry', async () => {
    const { fakeCluster, supervisorWith } = await import('./fork-seam.js');
    const cluster = fakeCluster();
    // Fake workers never answer `count-open`: no request is counted, and thin traffic 'fail' refuses the canary.
    const supervisor = supervisorWith(cluster, { canaryMs: 50, canaryThinTraffic: 'fail', backoff: { initialMs: 20, maxMs: 50 } });
    context.running = supervisor;
    await supervisor.start();
    // The canary becomes ready; its refill (the previous release) crashes; the retry's fork becomes ready.
    cluster.script.push('ready', 'crash', 'ready');
    const error = await supervisor.reload().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect((error as Error).message).toMatch(/fewer than the 100 canary requests a verdict needs \(thin traffic: fail\); rolled back 0 worker\(s\) to generation 0, 1 could not be yet/);
    await waitFor(() => supervisor.status().serving.every((worker) => worker.generation === 0), 'the retry to refill the canary slot');
    expect(supervisor.status().workers.map((worker) => worker.generation)).toEqual([0, 0]);
  });
});
