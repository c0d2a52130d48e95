/**
 * The deploy events, one after another, with traffic running: rolling restarts, a worker killed with SIGKILL, a release
 * that must be refused, and on request a scale up and down and an upgrade. Each is judged by what the supervisor
 * answers and what `zdt status` shows after it.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { RolloutResult, ScaleResult, StopResult } from '@zero-downtime/core';
import type { AppUnderTest } from './app.js';
import type { VerifyPlan } from './args.js';

export interface EventResult {
  name: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

/** When a worker was killed and when its replacement was ready: failures inside it may be that worker's. */
export interface CrashWindow {
  pid: number;
  from: number;
  to: number;
}

/** From the reload of a release the canary refused to the end of its rollback: its 5xx are what a canary costs. */
export interface CanaryWindow {
  from: number;
  to: number;
}

export interface EventHooks {
  /** Called before each event, with its name, for the progress line. */
  onEvent(name: string): void;
  /** Resolves once traffic has run a little between events. */
  settle(): Promise<void>;
}

/** A module that throws when imported: the release of the default bad-release event. */
const THROWS_AT_BOOT = `data:text/javascript;base64,${Buffer.from("throw new Error('zdt verify: a release that cannot boot')").toString('base64')}`;

type Timed = { ok: boolean; detail: string };

async function timed(name: string, hooks: EventHooks, work: () => Promise<Timed>): Promise<EventResult> {
  hooks.onEvent(name);
  const began = performance.now();
  let outcome: Timed;
  try {
    outcome = await work();
  } catch (error) {
    outcome = { ok: false, detail: (error as Error).message };
  }
  const result = { name, ...outcome, durationMs: Math.round(performance.now() - began) };
  await hooks.settle();
  return result;
}

const cutsOf = (cuts: Array<{ workerId: number; pid: number }> | undefined) =>
  (cuts ?? []).map((cut) => `worker ${cut.workerId} (pid ${cut.pid})`).join(', ');

/** What in the user's settings can refuse a release that boots and then fails. */
export interface LateChecks {
  readiness: string;
  canaryMs: number;
}

export async function runEvents(app: AppUnderTest, plan: VerifyPlan, readyTimeoutMs: number, hooks: EventHooks, late: LateChecks) {
  const events: EventResult[] = [];
  let crash: CrashWindow | undefined;
  for (let index = 1; index <= plan.reloads; index += 1) {
    events.push(
      await timed(`reload ${index}`, hooks, async () => {
        const response = await app.request({ command: 'reload' });
        if (response.type === 'error') return { ok: false, detail: `the release was refused: ${response.code}: ${response.message}` };
        const result = response.data as RolloutResult;
        if (result.cuts.length > 0) return { ok: false, detail: `requests were cut at the drain deadline on ${cutsOf(result.cuts)}` };
        return { ok: true, detail: `generation ${result.generation} serves, ${result.replaced.length} worker(s) replaced` };
      }),
    );
  }
  if (plan.crash) {
    events.push(
      await timed('worker crash (SIGKILL)', hooks, async () => {
        const before = await app.status();
        const victim = before.workers.find((worker) => worker.state === 'ready');
        if (!victim) return { ok: false, detail: 'no ready worker to kill' };
        const from = performance.now();
        process.kill(victim.pid, 'SIGKILL');
        crash = { pid: victim.pid, from, to: Number.POSITIVE_INFINITY };
        await waitForStatus(app, readyTimeoutMs + 10_000, (status) => {
          const ready = status.workers.filter((worker) => worker.state === 'ready');
          return ready.length >= before.workersWanted && ready.every((worker) => worker.pid !== victim.pid);
        });
        crash.to = performance.now();
        return { ok: true, detail: `worker ${victim.id} (pid ${victim.pid}) killed; a replacement was ready in ${Math.round(crash.to - from)}ms` };
      }),
    );
  }
  let canary: CanaryWindow | undefined;
  if (plan.badRelease) {
    const from = performance.now();
    const event = await badReleaseEvent(app, plan.badRelease, hooks, late);
    if (event.refusedBy === 'the canary') canary = { from, to: performance.now() };
    events.push(event);
  }
  if (plan.scale) events.push(...(await scaleEvents(app, hooks)));
  if (plan.upgrade) events.push(await upgradeEvent(app, hooks));
  return { events, crash, canary };
}

/** The env a release that must be refused is written with. */
function badReleaseEnv(bad: NonNullable<VerifyPlan['badRelease']>): Record<string, string> {
  if (bad.kind === 'env') return bad.env;
  const module = bad.kind === 'entry' ? pathToFileURL(path.resolve(bad.file)).href : THROWS_AT_BOOT;
  const inherited = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : '';
  return { NODE_OPTIONS: `${inherited}--import=${module}` };
}

/** The settings that check a release after it boots, as flags ("--canary 30s", "--ready http:/healthz"). */
function lateCheckFlags(late: LateChecks): string[] {
  const flags: string[] = [];
  if (late.canaryMs > 0) flags.push(`--canary ${late.canaryMs}ms`);
  if (late.readiness.startsWith('http:')) flags.push(`--ready ${late.readiness}`);
  return flags;
}

/** Which check refused the release, read from the refusal's message. */
function refusedBy(message: string, late: LateChecks): string {
  if (/ failed: canary: /.test(message)) return 'the canary';
  if (late.readiness.startsWith('http:') && /not ready within|answered|probe/.test(message)) return `the health check (--ready ${late.readiness})`;
  return 'its boot';
}

async function badReleaseEvent(app: AppUnderTest, bad: NonNullable<VerifyPlan['badRelease']>, hooks: EventHooks, late: LateChecks): Promise<EventResult & { refusedBy?: string }> {
  const what = bad.kind === 'entry' ? `loading ${bad.file}` : bad.kind === 'env' ? `with ${Object.keys(bad.env).join(', ')}` : 'that throws at boot';
  let by: string | undefined;
  const result = await timed(`bad release refused (${what})`, hooks, async () => {
    const before = await app.status();
    app.writeRelease(badReleaseEnv(bad));
    let response;
    try {
      response = await app.request({ command: 'reload' });
    } finally {
      app.writeRelease({});
    }
    if (response.type !== 'error') {
      const flags = lateCheckFlags(late);
      // A release that boots and then fails is refused only by a check that runs after the boot.
      const fix =
        flags.length === 0
          ? 'nothing checks a release once it boots: add a canary (--canary 30s, key "canary") or a health check (--ready http:/healthz, key "ready") to the configuration'
          : `${flags.join(' and ')} did not refuse it`;
      return { ok: false, detail: `the release that must be refused was deployed: its workers became ready; ${fix}` };
    }
    const after = await app.status();
    if (after.servingGeneration !== before.servingGeneration || after.mixedGenerations) {
      return { ok: false, detail: `refused (${response.code}), but not rolled back: ${JSON.stringify(after.serving)}` };
    }
    by = refusedBy(response.message, late);
    return { ok: true, detail: `refused by ${by} (${response.code}); generation ${after.servingGeneration} still serves` };
  });
  return { ...result, refusedBy: by };
}

async function scaleEvents(app: AppUnderTest, hooks: EventHooks): Promise<EventResult[]> {
  const workers = (await app.status()).workersWanted;
  const scaleTo = (count: number) => async (): Promise<Timed> => {
    const response = await app.request({ command: 'scale', workers: count });
    if (response.type === 'error') return { ok: false, detail: `${response.code}: ${response.message}` };
    const result = response.data as ScaleResult;
    if (result.cuts.length > 0) return { ok: false, detail: `requests were cut at the drain deadline on ${cutsOf(result.cuts)}` };
    return { ok: true, detail: `${result.workers} worker(s)` };
  };
  return [await timed(`scale to ${workers + 1}`, hooks, scaleTo(workers + 1)), await timed(`scale to ${workers}`, hooks, scaleTo(workers))];
}

async function upgradeEvent(app: AppUnderTest, hooks: EventHooks): Promise<EventResult> {
  return timed('upgrade', hooks, async () => {
    const response = await app.request({ command: 'upgrade' });
    if (response.type === 'error') return { ok: false, detail: `${response.code}: ${response.message}` };
    const result = response.data as { to: { pid: number }; cuts?: StopResult['cuts'] };
    app.successorPids.push(result.to.pid);
    if ((result.cuts ?? []).length > 0) return { ok: false, detail: `requests were cut at the drain deadline on ${cutsOf(result.cuts)}` };
    return { ok: true, detail: `a new supervisor (pid ${result.to.pid}) serves` };
  });
}

async function waitForStatus(app: AppUnderTest, timeoutMs: number, check: (status: Awaited<ReturnType<AppUnderTest['status']>>) => boolean) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (check(await app.status())) return;
    } catch {
      // the supervisor is busy or restarting the worker: ask again
    }
    if (performance.now() > deadline) throw new Error(`no replacement worker was ready within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
