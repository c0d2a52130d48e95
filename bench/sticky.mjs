#!/usr/bin/env node
// What sticky routing (`zdt start --sticky sid`) costs, next to the default connection path, in the same run: the
// same plain node:http app (bench/apps/plain.cjs), 2 workers, `zdt start` in its own process, once without and once
// with --sticky sid, in alternating rounds. Clients send GET /ping on a new connection per request (the worst case
// for sticky routing: the supervisor accepts and reads every connection and hands it over IPC) and on keep-alive
// connections (handed over once: the same as the default path after that). Per setup: requests/s, p50 and p99 as
// the clients feel them, and the supervisor's CPU time per new connection (its threads' schedstat, cpu.mjs).
//
// Usage: node bench/sticky.mjs [--quick] [--rounds N] [--seconds S] [--clients N]
// stderr: progress; stdout: the markdown section, then one JSON line of figures (what `pnpm bench` keeps).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanUp, freePort, stopProcess, waitForHttp, zdtStart } from '@zero-downtime/testkit';
import { cpuTimeNs } from './lib/cpu.mjs';
import { runPathLoad } from './lib/path-client.mjs';
import { appsDir, makeScratch } from './lib/systems.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    clients: { type: 'string', default: '8' },
  },
});
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const durationMs = Number(values.seconds ?? (values.quick ? 2 : 5)) * 1000;
const clients = Number(values.clients);
const WORKERS = 2;
const SETUPS = [
  { name: 'default (workers accept)', args: [] },
  { name: 'sticky sid (the supervisor accepts)', args: ['--sticky', 'sid'] },
];
const KINDS = ['per-request', 'keep-alive'];
const progress = (line) => process.stderr.write(`[sticky] ${line}\n`);

/** One setup's supervisor: started, measured for each kind of client, stopped. */
async function measure(setup) {
  const scratch = makeScratch('sticky');
  const port = await freePort();
  const running = zdtStart([path.join(appsDir, 'plain.cjs'), '--workers', String(WORKERS), '--control', path.join(scratch.dir, 'zdt.sock'), ...setup.args], {
    cwd: scratch.dir,
    env: { PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile },
    what: `zdt start (${setup.name})`,
  });
  try {
    await waitForHttp(port);
    const results = {};
    for (const kind of KINDS) {
      const before = cpuTimeNs(running.pid);
      const load = await runPathLoad({ port, kind, clients, durationMs });
      const cpuNs = cpuTimeNs(running.pid) - before;
      const connections = kind === 'per-request' ? load.ok + load.failed : clients;
      results[kind] = { rps: load.rps, p50: load.p50, p99: load.p99, failed: load.failed, supervisorCpuMs: cpuNs / 1e6, perConnectionUs: cpuNs / 1e3 / Math.max(1, connections) };
      progress(`${setup.name}, ${kind}: ${load.rps} req/s, p99 ${load.p99.toFixed(2)} ms, supervisor ${(cpuNs / 1e6).toFixed(0)} ms CPU, ${results[kind].perConnectionUs.toFixed(1)} us per connection, ${load.failed} failed`);
    }
    return results;
  } finally {
    await stopProcess(running.pid, { signal: 'SIGTERM', graceMs: 15_000 });
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const runs = Object.fromEntries(SETUPS.map((setup) => [setup.name, []]));
try {
  for (let round = 1; round <= rounds; round++) {
    // Alternating order, so neither setup always runs on the warmer machine.
    const order = round % 2 === 1 ? SETUPS : [...SETUPS].reverse();
    for (const setup of order) {
      progress(`round ${round}/${rounds}: ${setup.name}`);
      runs[setup.name].push(await measure(setup));
    }
  }
} finally {
  await cleanUp();
}

const figures = { date: new Date().toISOString(), node: process.version, commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(), workers: WORKERS, clients, durationMs, rounds, setups: {} };
const lines = [
  `${WORKERS} workers of a plain node:http app, ${clients} clients with one request in flight each, ${durationMs / 1000} s per measurement, median of ${rounds} round(s) (Node ${process.version}):`,
  '',
  '| setup | clients | requests/s | p50 ms | p99 ms | supervisor CPU per new connection | failed |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
];
for (const setup of SETUPS) {
  figures.setups[setup.name] = {};
  for (const kind of KINDS) {
    const samples = runs[setup.name].map((run) => run[kind]);
    const summary = {
      rps: median(samples.map((sample) => sample.rps)),
      p50: median(samples.map((sample) => sample.p50)),
      p99: median(samples.map((sample) => sample.p99)),
      perConnectionUs: median(samples.map((sample) => sample.perConnectionUs)),
      failed: samples.reduce((sum, sample) => sum + sample.failed, 0),
    };
    figures.setups[setup.name][kind] = summary;
    const perConnection = kind === 'per-request' ? `${summary.perConnectionUs.toFixed(1)} µs` : 'n/a (one per client)';
    lines.push(`| ${setup.name} | ${kind} | ${summary.rps} | ${summary.p50.toFixed(2)} | ${summary.p99.toFixed(2)} | ${perConnection} | ${summary.failed} |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(figures)}\n`);
