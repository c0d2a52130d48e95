// What a Prometheus scraper costs the workers: `pnpm bench:scrape`. A prom-client app under `zdt start --workers 2
// --metrics`, 8 keep-alive clients for 4 s per round, rounds alternating with a scraper polling /metrics every 100 ms
// and without one (A B A B A B); worker CPU time (from /proc) per answered request, medians with every round shown.
// The first pair includes the JIT warm-up: read the medians.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTimeMs, killTracked, startLoad, zdt, zdtStart } from '@zero-downtime/testkit';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdt-scrape-'));
const app = fileURLToPath(new URL('../test/fixtures/apps/prom-app.cjs', import.meta.url));
const running = zdtStart([app, '--workers', '2', '--control', path.join(dir, 'c.sock'), '--metrics', '127.0.0.1:0'], {
  cwd: fileURLToPath(new URL('../test/', import.meta.url)),
});
const line = await running.waitForLine(/metrics on http:\/\/127\.0\.0\.1:(\d+)/);
const metricsPort = Number(/:(\d+)\/metrics/.exec(line)[1]);
await running.waitForLine(/supervisor pid \d+ running/);
const port = running.port();
const workers = () => running.workerPids().slice(-2);
const results = { scraped: [], quiet: [] };
// 6 rounds: scraped, quiet, scraped, quiet...
for (let round = 0; round < 6; round++) {
  const scraped = round % 2 === 0;
  const before = workers().map((pid) => cpuTimeMs(pid));
  let scraping = scraped, scrapes = 0;
  const scraper = (async () => { while (scraping) { await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(); scrapes++; await new Promise((r) => setTimeout(r, 100)); } })();
  const load = startLoad({ port, clients: 8, durationMs: 4000 });
  const summary = await load.done;
  scraping = false; await scraper;
  const after = workers().map((pid) => cpuTimeMs(pid));
  const cpu = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
  results[scraped ? 'scraped' : 'quiet'].push(cpu / summary.ok * 1000);
  console.log(`${scraped ? 'scraped' : 'quiet  '} ok=${summary.ok} failed=${summary.failed} scrapes=${scrapes} workerCPU=${cpu}ms -> ${(cpu / summary.ok * 1000).toFixed(1)} us/request`);
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const overlap = Math.max(...results.scraped) >= Math.min(...results.quiet) && Math.max(...results.quiet) >= Math.min(...results.scraped);
console.log(`median us/request: scraped ${median(results.scraped).toFixed(1)} (${results.scraped.map((v) => v.toFixed(1)).join(', ')}), quiet ${median(results.quiet).toFixed(1)} (${results.quiet.map((v) => v.toFixed(1)).join(', ')}), ratio ${(median(results.scraped) / median(results.quiet)).toFixed(3)}${overlap ? '; the two spreads overlap: no difference measurable at this noise' : ''}`);
await zdt(['stop', '--control', path.join(dir, 'c.sock')]);
killTracked();
rmSync(dir, { recursive: true, force: true });
