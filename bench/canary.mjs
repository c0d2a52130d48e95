#!/usr/bin/env node
// The canary's false-positive and detection rates, measured. A supervisor (2 workers, the canary test app, which
// answers 500 to a given share of requests at random) runs under load from clients that open a new connection per
// request; it is reloaded again and again with a short canary window:
//   - healthy: 1% of requests fail at random in both generations: every refusal is a false positive;
//   - 20%: the new release fails 20% of requests (the old one 1%): every acceptance is a miss;
//   - 100%: the new release fails every request.
// The verdict is the supervisor's own (primary/canary/verdict.ts): one-sided Fisher's exact test, p < 0.001, and a
// canary ratio worse by more than 1 percentage point.
//
// Usage: node bench/canary.mjs [--quick] [--healthy N] [--failing N] [--window DUR] [--save]
// stderr: progress; stdout: the markdown section, then one JSON line of figures (what `pnpm bench` keeps).
// --save also writes bench/results/canary-<date>.json.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Supervisor, parseDuration } from '@zero-downtime/core';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    healthy: { type: 'string' },
    failing: { type: 'string' },
    window: { type: 'string', default: '800ms' },
    save: { type: 'boolean', default: false },
  },
});
const healthyRollouts = Number(values.healthy ?? (values.quick ? 15 : 50));
const failingRollouts = Number(values.failing ?? (values.quick ? 3 : 8));
const windowMs = parseDuration(values.window, '--window');
const CLIENTS = 8;
const MIN_REQUESTS = 50;
const BASE_FAIL_RATE = '0.01';
const here = path.dirname(fileURLToPath(import.meta.url));
const app = path.join(here, '..', 'packages', 'core', 'test', 'fixtures', 'canary-app.cjs');
const progress = (line) => process.stderr.write(`${line}\n`);

/** Clients that each send one request per new connection, until stopped. */
function startClients(port) {
  let running = true;
  let sent = 0;
  let serverErrors = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
        response.resume();
        response.on('end', () => {
          sent += 1;
          if (response.statusCode >= 500) serverErrors += 1;
          resolve();
        });
      });
      request.on('error', () => {
        failed += 1;
        setTimeout(resolve, 5);
      });
    });
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) await one();
  });
  return {
    counts: () => ({ sent, serverErrors, failed }),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function main() {
  const supervisor = new Supervisor({
    entry: app,
    workers: 2,
    env: { FIXTURE_FAIL_RATE: BASE_FAIL_RATE },
    canaryMs: windowMs,
    canaryMinRequests: MIN_REQUESTS,
    canaryThinTraffic: 'extend',
    drainTimeoutMs: 5_000,
    silent: true,
    logger: false,
  });
  let port = 0;
  supervisor.on('listening', ({ address }) => {
    port ||= address.port;
  });
  await supervisor.start();
  const clients = startClients(port);
  const scenarios = [
    { name: 'healthy (1% in both)', key: 'healthy', rate: BASE_FAIL_RATE, rollouts: healthyRollouts, bad: false },
    { name: 'failing 20%', key: 'failing20', rate: '0.2', rollouts: failingRollouts, bad: true },
    { name: 'failing 100%', key: 'failing100', rate: '1', rollouts: failingRollouts, bad: true },
  ];
  const results = [];
  const began = Date.now();
  try {
    for (const scenario of scenarios) {
      const row = { ...scenario, refused: 0, accepted: 0, thin: 0, noVerdict: 0, canaryRequests: [], pValues: [], messages: [] };
      for (let index = 0; index < scenario.rollouts; index++) {
        let report;
        const onVerdict = (verdict) => (report = verdict);
        supervisor.on('canary:verdict', onVerdict);
        const error = await supervisor.reload({ env: { FIXTURE_FAIL_RATE: scenario.rate } }).then(
          () => undefined,
          (caught) => caught,
        );
        supervisor.off('canary:verdict', onVerdict);
        if (!report) {
          // Refused before its window (a worker not ready in time on a loaded machine): no verdict to count.
          row.noVerdict += 1;
          row.messages.push(`no verdict: ${error?.message ?? 'the rollout ended without one'}`);
          progress(`[canary] ${scenario.name} ${index + 1}/${scenario.rollouts}: no verdict: ${error?.message}`);
          continue;
        }
        row[report.decision] += 1;
        if (report.outcome === 'thin') row.thin += 1;
        row.canaryRequests.push(report.canary.requests);
        if (report.pValue !== undefined) row.pValues.push(report.pValue);
        if (report.decision === (scenario.bad ? 'accepted' : 'refused')) row.messages.push(report.message);
        progress(`[canary] ${scenario.name} ${index + 1}/${scenario.rollouts}: ${report.message}`);
        // A bad release that was accepted serves now: put the healthy one back before the next rollout.
        if (scenario.bad && report.decision === 'accepted') await supervisor.reload({ env: { FIXTURE_FAIL_RATE: BASE_FAIL_RATE }, canaryMs: 0 });
      }
      results.push(row);
    }
  } finally {
    await clients.stop();
    await supervisor.stop();
  }
  return { results, durationMs: Date.now() - began, load: clients.counts() };
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)];
};
const percent = (part, whole) => (whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)}%`);

const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const { results, durationMs, load } = await main();
const healthy = results.find((row) => row.key === 'healthy');
const lines = [
  `Rollouts of a 2-worker app under ${CLIENTS} clients that open a new connection per request, each held for a ${windowMs} ms canary window (at least ${MIN_REQUESTS} canary requests, extended when fewer). Verdict: one-sided Fisher's exact test, p < 0.001, and a canary 5xx ratio worse by more than 1 percentage point. Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, ${Math.round(durationMs / 1000)} s, ${load.sent} requests.`,
  '',
  '| release | rollouts | refused | accepted | of which thin | no verdict (failed before the window) | median canary requests | rate |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.map(
    (row) =>
      `| ${row.name} | ${row.rollouts} | ${row.refused} | ${row.accepted} | ${row.thin} | ${row.noVerdict} | ${median(row.canaryRequests)} | ${row.bad ? `detection ${percent(row.refused, row.refused + row.accepted)}` : `false positives ${percent(row.refused, row.refused + row.accepted)}`} |`,
  ),
];
for (const row of results) {
  for (const message of row.messages) lines.push('', `${message.startsWith('no verdict') ? '' : row.bad ? 'missed: ' : 'false positive: '}(${row.name}) ${message}`);
}
console.log(lines.join('\n'));
/** The commit this run measured, and whether the worktree differed from it. */
function commit() {
  try {
    const id = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: here, encoding: 'utf8' }).trim() !== '';
    return { id, dirty };
  } catch {
    return null;
  }
}
const figures = {
  startedAt,
  commit: commit(),
  test: "one-sided Fisher's exact test, alpha 0.001, margin 1 percentage point",
  windowMs,
  minRequests: MIN_REQUESTS,
  clients: CLIENTS,
  node: process.version,
  durationMs,
  falsePositiveRate: healthy.refused / Math.max(1, healthy.refused + healthy.accepted),
  scenarios: results.map(({ key, rate, rollouts, refused, accepted, thin, noVerdict, canaryRequests, pValues }) => ({
    key,
    failRate: Number(rate),
    rollouts,
    refused,
    accepted,
    thin,
    noVerdict,
    medianCanaryRequests: median(canaryRequests),
    largestP: pValues.length ? Math.max(...pValues) : null,
    smallestP: pValues.length ? Math.min(...pValues) : null,
  })),
};
if (values.save) {
  const file = path.join(here, 'results', `canary-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify({ ...figures, markdown: lines }, null, 2)}\n`);
  progress(`[canary] results written to ${path.relative(process.cwd(), file)}`);
}
console.log(JSON.stringify(figures));
process.exitCode = healthy.refused === 0 ? 0 : 1;
