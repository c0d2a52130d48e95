/**
 * `zdt verify`: starts the app under the supervisor as `zdt start` would, drives every kind of traffic at it while it
 * deploys (rolling restarts, a worker crash, a release that must be refused, optionally scale and upgrade), checks
 * the setup it can see, and exits 0 only when nothing failed that should not.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ConfigError, EntryNotFoundError, InvalidOptionError, StartFailedError, UsageError, ZdtError } from '@zero-downtime/core';
import { AppUnderTest } from './app.js';
import { HELP, parseVerifyArgs, type TrafficKind, type VerifyPlan } from './args.js';
import { budgetChecks, keepAliveCheck, type CheckResult } from './checks.js';
import { runEvents, type EventResult } from './events.js';
import { causesOf, describeRoute, formatJson, formatJunit, formatText, judgeKind, type KindResult, type VerifyResult } from './report.js';
import { readStartSettings, type StartSettings } from '@zero-downtime/core/tooling';
import { chooseLongLivedPaths, chooseRoutes, probe, startTraffic, type RunningKind } from './traffic.js';

/** Beyond --ready-timeout, for node and the supervisor to boot before the workers' readiness is timed. */
const BOOT_MS = 10_000;
/** Requests each kind completes before the first event, and between events. */
const WARM_UP_REQUESTS = 20;
const SETTLE_REQUESTS = 10;
const SETTLE_MS = 300;
/** A kind that cannot complete that many requests in this long is not waited for further (its failures tell why). */
const WAIT_BOUND_MS = 10_000;

export interface VerifyOptions {
  /** The launcher of `zdt start` to run the app with. @default the bin/zdt.cjs of the @zero-downtime/core this package resolves */
  zdt?: string;
}

/** `zdt verify ...`: `argv` are the arguments after `verify`; resolves to the exit status (0 passed, 1 failed, 2 bad usage). */
export async function verify(argv: string[], options: VerifyOptions = {}): Promise<number> {
  let plan: VerifyPlan | undefined;
  try {
    plan = parseVerifyArgs(argv);
    if (!plan) {
      process.stdout.write(HELP);
      return 0;
    }
    if (plan.badRelease?.kind === 'entry' && !(existsSync(plan.badRelease.file) && statSync(plan.badRelease.file).isFile())) {
      throw new UsageError(`--bad-entry: expected a file, received ${JSON.stringify(plan.badRelease.file)}`);
    }
    const settings = await readStartSettings(plan.start);
    const result = await run(plan, settings, options);
    if (plan.json) process.stdout.write(`${formatJson(result)}\n`);
    else process.stdout.write(`${formatText(result)}\n`);
    if (plan.junit) writeFileSync(plan.junit, formatJunit(result));
    return result.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidOptionError || error instanceof EntryNotFoundError || error instanceof ConfigError) {
      process.stderr.write(`zdt: ${error.code}: ${error.message}\nRun 'zdt verify --help' for usage.\n`);
      return 2;
    }
    const message = error instanceof ZdtError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    process.stderr.write(`zdt verify: FAILED: ${message}\n`);
    return 1;
  }
}

/** How long the app's port may take to answer after its first worker announced it. */
const PORT_OPEN_WAIT_MS = 5_000;

/**
 * Which of HTTP/1.1 and HTTP/2 (cleartext) the app answers. A worker announces 'listening' before the supervisor
 * counts it ready, and under readiness message or http:PATH its socket accepts only then: asked again for a few
 * seconds before concluding.
 */
async function protocolsSpoken(host: string, port: number, tryHttp2: boolean): Promise<{ speaksHttp1: boolean; speaksHttp2: boolean }> {
  const answersBy = Date.now() + PORT_OPEN_WAIT_MS;
  for (;;) {
    const speaksHttp1 = (await probe('h1', host, port, '/')) !== undefined;
    const speaksHttp2 = tryHttp2 && (await probe('h2', host, port, '/')) !== undefined;
    if (speaksHttp1 || speaksHttp2 || Date.now() > answersBy) return { speaksHttp1, speaksHttp2 };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function run(plan: VerifyPlan, settings: StartSettings, options: VerifyOptions): Promise<VerifyResult> {
  const began = performance.now();
  const app = new AppUnderTest(plan.startArgs, settings.envFile, options.zdt);
  let traffic: RunningKind[] = [];
  let progress: NodeJS.Timeout | undefined;
  let phase = 'starting';
  const deadline = setTimeout(() => app.kill('SIGTERM'), plan.timeoutMs);
  deadline.unref();
  // Interrupted (Ctrl-C, a CI job cancelled): stop the app too, and report what was seen so far.
  const interrupted = () => app.kill('SIGTERM');
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await app.start(settings.readyTimeoutMs + BOOT_MS, `--ready-timeout ${settings.readyTimeoutMs}ms + ${BOOT_MS}ms to boot`);
    const listening = app.listening!;
    const port = plan.port ?? listening.port;
    // An app that listens without a host (`listen(3000)`) is announced as ':3000': every address, loopback included.
    const host = plan.host ?? (/^(0\.0\.0\.0|::|)$/.test(listening.host) ? '127.0.0.1' : listening.host);
    // HTTP/1.1 kinds only when the app speaks it (an h2c-only server does not); HTTP/2 only when it answers it.
    const { speaksHttp1, speaksHttp2 } = await protocolsSpoken(host, port, plan.traffic.includes('h2'));
    if (!speaksHttp1 && !speaksHttp2) throw new StartFailedError(`the app answers neither HTTP/1.1 nor HTTP/2 (cleartext) on ${host}:${port}; zdt verify does not speak TLS: run the app with a cleartext listener for the check (--port to send to it)`);
    const routes = await chooseRoutes(plan.routes, speaksHttp1 ? 'h1' : 'h2', host, port);
    const kinds: TrafficKind[] = speaksHttp1 ? plan.traffic.filter((kind) => kind !== 'h2') : [];
    if (speaksHttp2) kinds.push('h2');
    const longLived = await chooseLongLivedPaths(kinds, { ws: plan.websocket, sse: plan.sse }, host, port);

    const checks: CheckResult[] = budgetChecks(plan, settings);
    if (plan.behind) checks.unshift(await keepAliveCheck(plan.behind, host, port, routes.find((route) => route.method === 'GET') ?? routes[0]!));

    traffic = startTraffic({ kinds, routes, longLivedPaths: longLived, host, port, clients: plan.clients, requestTimeoutMs: plan.requestTimeoutMs });
    const shown = traffic;
    if (process.stderr.isTTY && !plan.json) {
      progress = setInterval(() => process.stderr.write(`\r\x1b[K${progressLine(shown, phase, began)}`), 250);
      progress.unref();
    }
    phase = 'warming up';
    await enough(traffic, WARM_UP_REQUESTS);
    const { events, crash, canary } = await runEvents(app, plan, settings.readyTimeoutMs, {
      onEvent: (name) => (phase = name),
      settle: async () => {
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        await enough(traffic, SETTLE_REQUESTS);
      },
    }, settings);
    phase = 'stopping';
    // The traffic runs through the stop, until the supervisor has exited: what the stop resets shows.
    const stopFrom = performance.now();
    const stop = await stopEvent(app);
    const running = traffic;
    const summaries = await Promise.all(running.map((kind) => kind.stop()));
    traffic = [];
    // A crash may cost each kind what it has in flight, and a kept connection per client: twice its concurrency.
    const results = summaries.map((summary, index) => judgeKind(running[index]!.kind, summary, crash, running[index]!.concurrency * 2, canary, stopFrom));
    events.push(judgeStop(stop, results));
    const causes = causesOf(results, events, checks);
    const ok = causes.length === 0;
    if (!ok && !plan.json) causes.push(`the supervisor's last lines:\n${app.tail(15)}`);
    return {
      ok,
      causes,
      target: { host, port, routes: routes.map(describeRoute), websocket: longLived.ws, sse: longLived.sse },
      traffic: results,
      events,
      checks,
      durationMs: Math.round(performance.now() - began),
    };
  } finally {
    clearTimeout(deadline);
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    if (progress) {
      clearInterval(progress);
      process.stderr.write('\r\x1b[K');
    }
    await Promise.all(traffic.map((kind) => kind.stop()));
    app.dispose();
  }
}

async function stopEvent(app: AppUnderTest): Promise<EventResult> {
  const began = performance.now();
  const response = await app.stop();
  const durationMs = Math.round(performance.now() - began);
  if (response === undefined) return { name: 'stop', ok: false, durationMs, detail: 'the supervisor did not answer the stop request' };
  if (response.type === 'error') return { name: 'stop', ok: false, durationMs, detail: `${response.code}: ${response.message}` };
  const cuts = (response.data as { cuts?: Array<{ workerId: number; pid: number }> } | undefined)?.cuts ?? [];
  if (cuts.length > 0) return { name: 'stop', ok: false, durationMs, detail: `requests were cut at the drain deadline on ${cuts.map((cut) => `worker ${cut.workerId} (pid ${cut.pid})`).join(', ')}` };
  return { name: 'stop', ok: true, durationMs, detail: 'every worker drained' };
}

/** The stop event, failed too when a request or connection failed during it (a refused one does not count). */
function judgeStop(stop: EventResult, results: KindResult[]): EventResult {
  const failures: Record<string, number> = {};
  for (const kind of results) for (const [reason, count] of Object.entries(kind.atStop.failures)) failures[reason] = (failures[reason] ?? 0) + count;
  const total = Object.values(failures).reduce((sum, count) => sum + count, 0);
  if (total === 0) return stop;
  const byKind = results.filter((kind) => Object.keys(kind.atStop.failures).length > 0).map((kind) => `${kind.kind} ${Object.values(kind.atStop.failures).reduce((sum, count) => sum + count, 0)}`);
  const named = `${total} request(s) or connection(s) failed during the stop (${Object.entries(failures).map(([reason, count]) => `${reason} x${count}`).join(', ')}; ${byKind.join(', ')})`;
  return { ...stop, ok: false, detail: stop.ok ? named : `${stop.detail}; ${named}` };
}

/** Resolves once every kind has completed `count` more requests, or after WAIT_BOUND_MS. */
async function enough(traffic: RunningKind[], count: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, WAIT_BOUND_MS)));
  await Promise.race([Promise.all(traffic.map((kind) => kind.waitForRequests(count).catch(() => {}))), bound]);
  clearTimeout(timer);
}

function progressLine(traffic: RunningKind[], phase: string, began: number): string {
  let sent = 0;
  let failed = 0;
  for (const kind of traffic) {
    const counts = kind.progress();
    sent += counts.sent;
    failed += counts.failed;
  }
  return `zdt verify ${((performance.now() - began) / 1000).toFixed(1)}s  ${phase}  requests ${sent}  failed ${failed}`;
}
export type { VerifyResult, KindResult } from './report.js';
