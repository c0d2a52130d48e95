/**
 * Every deploy in the monitoring: the supervisor's Prometheus endpoint, scraped during a rolling restart under
 * keep-alive load and read with a real parser (parse-prometheus-text-format), shows the rollout, its duration, each
 * drain with zero cut requests and the restart causes; the app's own prom-client counters are summed over the
 * workers, without code in the primary, and never go down: across reloads, with a worker too busy to answer a
 * scrape, through repeated SIGKILLs (6 in the fast tier, 20 in the full one) and through `zdt upgrade`.
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, killTracked, startLoad, track, waitForExit, zdt, zdtStart } from '@zero-downtime/testkit';
import { tier } from './lib/tier.js';

const APP = fileURLToPath(new URL('./fixtures/apps/prom-app.cjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-metrics-'));
/** Worker SIGKILLs under a scrape every 100 ms: the counter went down in 1 of 2, then 3 of 5 runs of 20 before the fix. */
const KILLS = tier(6, 20);
let sockets = 0;

afterEach(() => killTracked());
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface ParsedFamily {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

function get(port: number, pathname: string): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, type: response.headers['content-type'] }));
      })
      .on('error', reject);
  });
}

/** The families, parsed, and the text (the parser keeps one series of a labelled histogram, without count and sum). */
async function scrapeWithText(port: number): Promise<{ families: Map<string, ParsedFamily>; text: string }> {
  const response = await get(port, '/metrics');
  expect(response.status).toBe(200);
  expect(response.type).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(response.body) as ParsedFamily[];
  return { families: new Map(families.map((family) => [family.name, family])), text: response.body };
}

async function scrape(port: number): Promise<Map<string, ParsedFamily>> {
  return (await scrapeWithText(port)).families;
}

function value(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  const metric = family?.metrics.find((candidate) => Object.entries(labels).every(([key, expected]) => candidate.labels?.[key] === expected));
  return metric ? Number(metric.value ?? metric.count) : Number.NaN;
}

/** The app's own request counter, over all its routes. */
function appTotal(families: Map<string, ParsedFamily>): number {
  return (families.get('app_requests_total')?.metrics ?? []).reduce((total, metric) => total + Number(metric.value), 0);
}

/** The app's request-duration histogram over all its routes, from the text: its +Inf bucket, count and sum. */
function appHistogram(text: string): { infinity: number; count: number; sum: number } {
  const total = (pattern: string) => [...text.matchAll(new RegExp(`^app_request_duration_seconds_${pattern} (\\S+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
  return { infinity: total('bucket\\{[^}]*le="\\+Inf"[^}]*\\}'), count: total('count\\{[^}]*\\}'), sum: total('sum\\{[^}]*\\}') };
}

/** Scrapes every 100 ms until stopped, each scrape's families given to `seen`; then one last scrape. */
function scrapeEvery100Ms(metricsPort: number, seen: (families: Map<string, ParsedFamily>, text: string) => void = () => {}) {
  const totals: number[] = [];
  let scraping = true;
  const loop = (async () => {
    while (scraping) {
      const { families, text } = await scrapeWithText(metricsPort);
      totals.push(appTotal(families));
      seen(families, text);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    /** The app counter's last value, the scrapes, and how many of them read less than the one before. */
    async stop() {
      scraping = false;
      await loop;
      const final = appTotal(await scrape(metricsPort));
      totals.push(final);
      return { final, scrapes: totals.length, decreases: totals.filter((total, index) => index > 0 && total < totals[index - 1]!).length };
    },
  };
}

async function startWithMetrics(workers: number) {
  const control = path.join(scratch, `${++sockets}.sock`);
  const running = zdtStart([APP, '--workers', String(workers), '--control', control, '--metrics', '127.0.0.1:0']);
  const line = await running.waitForLine(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
  await running.waitForLine(/supervisor pid \d+ running/);
  return { running, control, port: running.port(), metricsPort: Number(/:(\d+)\/metrics/.exec(line)![1]) };
}

describe('the metrics endpoint', () => {
  it('scraped during a rolling restart under load: the rollout, its duration, each drain with zero cut, restart causes', async () => {
    const { running, control, port, metricsPort } = await startWithMetrics(2);
    const load = startLoad({ port, clients: 8, durationMs: 60_000 });
    await load.waitForRequests(20);

    let scrapes = 0;
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        await scrape(metricsPort);
        scrapes++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const reload = await zdt(['reload', '--control', control]);
    scraping = false;
    await scraper;
    expect(reload.code).toBe(0);
    const summary = await load.stop();
    expect(summary.failed).toBe(0);
    expect(scrapes).toBeGreaterThan(0);

    let families = await scrape(metricsPort);
    expect(value(families, 'zdt_rollouts_total', { outcome: 'done' })).toBe(1);
    expect(value(families, 'zdt_rollout_duration_seconds')).toBe(1);
    expect(Number(families.get('zdt_rollout_duration_seconds')!.metrics[0]!.sum)).toBeGreaterThan(0);
    expect(value(families, 'zdt_drains_total', { reason: 'reload' })).toBe(2);
    expect(value(families, 'zdt_drain_duration_seconds')).toBe(2);
    expect(value(families, 'zdt_drain_cut_total', { kind: 'request' })).toBe(0);
    expect(value(families, 'zdt_drain_cut_total', { kind: 'long_lived' })).toBe(0);
    // Keep-alive clients that wait for each answer pipeline nothing: no request was held back from the app.
    expect(value(families, 'zdt_drain_requests_unprocessed_total')).toBe(0);
    expect(value(families, 'zdt_drain_requests_served_total')).toBeGreaterThanOrEqual(0);
    expect(value(families, 'zdt_restarts_total', { cause: 'reload' })).toBe(2);
    expect(value(families, 'zdt_workers', { state: 'ready' })).toBe(2);
    expect(value(families, 'zdt_generation')).toBe(1);
    expect(families.get('zdt_worker_info')!.metrics.map((metric) => metric.labels?.generation)).toEqual(['1', '1']);
    expect(families.get('zdt_worker_cpu_seconds_total')!.metrics).toHaveLength(2);
    expect(value(families, 'zdt_worker_ready_seconds')).toBe(4);

    // A crash is a restart of its own cause.
    await get(port, '/exit');
    for (let attempt = 0; attempt < 200 && !(value(families, 'zdt_restarts_total', { cause: 'crash' }) >= 1); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      families = await scrape(metricsPort);
    }
    expect(value(families, 'zdt_restarts_total', { cause: 'crash' })).toBe(1);
    expect(value(families, 'zdt_worker_crashes_total')).toBe(1);

    // The same figures in zdt status --json.
    const status = JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as { metrics: { rollouts: Array<{ labels: Record<string, string>; value: number }> } };
    expect(status.metrics.rollouts).toEqual([{ labels: { outcome: 'done' }, value: 1 }]);
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it("sums the app's prom-client counters over the workers, and they do not go back across reloads", async () => {
    const { running, control, port, metricsPort } = await startWithMetrics(2);
    const load = startLoad({ port, clients: 8, durationMs: 60_000 });
    await load.waitForRequests(50);
    const seen: number[] = [];
    for (let rollout = 0; rollout < 2; rollout++) {
      const families = await scrape(metricsPort);
      seen.push(value(families, 'app_requests_total', { route: 'ping' }) + value(families, 'app_requests_total', { route: 'echo' }));
      expect((await zdt(['reload', '--control', control])).code).toBe(0);
      await load.waitForRequests(50);
    }
    const summary = await load.stop();
    expect(summary.failed).toBe(0);
    const families = await scrape(metricsPort);
    const total = value(families, 'app_requests_total', { route: 'ping' }) + value(families, 'app_requests_total', { route: 'echo' });
    seen.push(total);
    // Every request every worker answered, the replaced ones included: exactly what the clients got back.
    expect(total).toBe(summary.ok);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    // A gauge is summed over the live workers only: nothing is in flight once the clients stopped.
    expect(value(families, 'app_requests_in_flight')).toBe(0);
    expect(families.get('app_requests_total')!.type).toBe('COUNTER');
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('counts a worker too busy to answer a scrape at its last known values', async () => {
    const { running, control, port, metricsPort } = await startWithMetrics(2);
    const load = startLoad({ port, clients: 8, durationMs: 60_000 });
    await load.waitForRequests(200);
    const before = appTotal(await scrape(metricsPort));
    // One worker holds its event loop past the 2 s a scrape waits for each worker.
    const busy = get(port, '/busy?ms=3000');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const during = appTotal(await scrape(metricsPort));
    expect((await busy).status).toBe(200);
    const summary = await load.stop();
    const after = appTotal(await scrape(metricsPort));
    console.log(`app counter ${before} before, ${during} while a worker was busy, ${after} after; answered ${summary.ok + 1}`);
    expect(during).toBeGreaterThanOrEqual(before);
    expect(after).toBe(summary.ok + 1);
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it(`${KILLS} SIGKILLs of a worker under load, scraped every 100 ms: the app counter never goes down and ends at the answers the clients got`, async () => {
    const { running, control, port, metricsPort } = await startWithMetrics(2);
    const load = startLoad({ port, clients: 4, durationMs: 90_000 });
    await load.waitForRequests(20);

    // The workers each scrape saw: pid, state and uptime; and the histogram's counts.
    let workers: Array<{ pid: number; state: string; uptime: number }> = [];
    const histogramCounts: number[] = [];
    const scraper = scrapeEvery100Ms(metricsPort, (families, text) => {
      histogramCounts.push(appHistogram(text).count);
      const uptimes = new Map((families.get('zdt_worker_uptime_seconds')?.metrics ?? []).map((metric) => [metric.labels?.pid, Number(metric.value)]));
      workers = (families.get('zdt_worker_info')?.metrics ?? []).map((metric) => ({ pid: Number(metric.labels?.pid), state: metric.labels?.state ?? '', uptime: uptimes.get(metric.labels?.pid) ?? 0 }));
    });
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
    };

    const killed: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // The oldest of two ready workers, once it is past the minimum uptime (a quicker crash would be backed off).
      await until(() => workers.length === 2 && workers.every((worker) => worker.state === 'ready' && !killed.includes(worker.pid)));
      const oldest = workers.reduce((a, b) => (a.uptime >= b.uptime ? a : b));
      await until(() => (workers.find((worker) => worker.pid === oldest.pid)?.uptime ?? 0) > 1.1);
      process.kill(oldest.pid, 'SIGKILL');
      killed.push(oldest.pid);
    }
    await until(() => workers.length === 2 && workers.every((worker) => worker.state === 'ready' && !killed.includes(worker.pid)));
    const summary = await load.stop();
    const { final, scrapes, decreases } = await scraper.stop();
    const cutAfterCounted = final - summary.ok;
    const histogram = appHistogram((await scrapeWithText(metricsPort)).text);
    console.log(
      `${killed.length} SIGKILLs, ${scrapes} scrapes, ${decreases} went down; app counter ${final}, answered ${summary.ok} ` +
        `(+${cutAfterCounted} counted, then cut by a SIGKILL before the answer was written), failed ${summary.failed}; histogram count ${histogram.count}`,
    );
    expect(killed).toHaveLength(KILLS);
    expect(decreases).toBe(0);
    // The histogram is carried the same way, buckets, sum and count: observed with each count, it matches it.
    expect(histogramCounts.filter((count, index) => index > 0 && count < histogramCounts[index - 1]!)).toEqual([]);
    expect(histogram).toEqual({ infinity: final, count: final, sum: expect.any(Number) });
    expect(histogram.sum).toBeGreaterThan(0);
    // Every answer the clients got was counted before it was written, and its count reached the supervisor first: none
    // is lost. The counter and the answer are two writes, so a SIGKILL between them leaves a request that the app
    // counted and the client saw reset; there can be no more of those than failed requests.
    expect(final).toBeGreaterThanOrEqual(summary.ok);
    expect(cutAfterCounted).toBeLessThanOrEqual(summary.failed);
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('zdt upgrade under load, scraped every 100 ms: the new supervisor carries the app counter on, never below the old one', async () => {
    const control = path.join(scratch, `${++sockets}.sock`);
    const port = await freePort();
    const running = zdtStart([APP, '--workers', '2', '--listen', `127.0.0.1:${port}`, '--control', control, '--metrics', '127.0.0.1:0'], { env: { PORT: String(port) } });
    const line = await running.waitForLine(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
    await running.waitForLine(/supervisor pid \d+ running/);
    const metricsPort = Number(/:(\d+)\/metrics/.exec(line)![1]);
    const load = startLoad({ port, clients: 8, durationMs: 90_000 });
    await load.waitForRequests(200);

    // Scrapes reach whichever supervisor accepts them: both hold the metrics socket during the upgrade.
    const scraper = scrapeEvery100Ms(metricsPort);
    const upgraded = await zdt(['upgrade', '--control', control]);
    for (const match of upgraded.stdout.matchAll(/supervisor pid (\d+)/g)) track(Number(match[1]), 'a supervisor');
    expect(upgraded.code, `${upgraded.stdout}\n${upgraded.stderr}`).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    await load.waitForRequests(200);
    const summary = await load.stop();
    const { final, scrapes, decreases } = await scraper.stop();
    console.log(`zdt upgrade: ${scrapes} scrapes, ${decreases} went down; app counter ${final}, answered ${summary.ok}, failed ${summary.failed}`);
    expect(summary.failed).toBe(0);
    expect(decreases).toBe(0);
    // The old workers' counts to the end of their drain, and the new ones'.
    expect(final).toBe(summary.ok);
    const status = JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as { pid: number };
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await waitForExit(status.pid, 30_000)).toBe(true);
  });
});
