#!/usr/bin/env node
// Figures for the closing note of issue 2, measured on this machine:
//  (a) forks of a boot-crashing app in 10 s under the supervisor with default options,
//      beside a naive `cluster.on('exit', fork)` primary;
//  (b) the primary's RSS (Supervisor, `zdt start`, bare node:cluster) with the same workers.
// Run after `pnpm --filter @zero-downtime/core build`:  node packages/core/scripts/measure.mjs
import cluster from 'node:cluster';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const app = path.join(here, '../test/fixtures/app.cjs');
const cli = path.join(here, '../dist/cli.cjs');
const WINDOW_MS = 10_000;
const workers = os.availableParallelism();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function rssMiB(pid) {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match[1]) / 1024;
}

/** Child mode: become a primary of the given kind, print one JSON line once workers are up, wait for SIGTERM. */
async function runPrimary(kind, count, flag) {
  const env = flag ? { FIXTURE_CRASH_FLAG: flag } : {};
  if (kind === 'bare') {
    // The seed's design: fork N, fork again on every exit.
    cluster.setupPrimary({ exec: app, silent: true });
    let forks = 0;
    let listening = 0;
    const fork = () => {
      forks++;
      const worker = cluster.fork(env);
      worker.process.stdout.resume();
      worker.process.stderr.resume();
    };
    cluster.on('listening', () => {
      if (++listening === count) process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    });
    cluster.on('exit', () => {
      if (!stopping) fork();
    });
    let stopping = false;
    process.on('SIGUSR1', () => process.stdout.write(`${JSON.stringify({ forks })}\n`));
    process.on('SIGTERM', () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
      setTimeout(() => process.exit(0), 200);
    });
    for (let index = 0; index < count; index++) fork();
    return;
  }
  const { Supervisor } = await import('../dist/index.js');
  const supervisor = new Supervisor({ entry: app, workers: count, env, silent: true, logger: false });
  let forks = 0;
  supervisor.on('fork', () => forks++);
  await supervisor.start();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  process.on('SIGUSR1', () => process.stdout.write(`${JSON.stringify({ forks, status: supervisor.status().crashLoop })}\n`));
  process.on('SIGTERM', () => supervisor.stop({ force: true }).then(() => process.exit(0)));
}

function launch(args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  let partial = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop();
    lines.push(...parts);
  });
  const next = async (test) => {
    for (let tries = 0; tries < 600; tries++) {
      const line = lines.find(test);
      if (line) {
        lines.splice(lines.indexOf(line), 1);
        return line;
      }
      await sleep(50);
    }
    throw new Error(`no output from ${args.join(' ')}`);
  };
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, next, exited };
}

function workerPidsOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function crashLoop(kind) {
  const flag = path.join(os.tmpdir(), `zdt-measure-flag-${process.pid}-${kind}`);
  const primary = launch([fileURLToPath(import.meta.url), '--primary', kind, String(workers), flag]);
  await primary.next((line) => line.includes('"ready"'));
  writeFileSync(flag, 'crash');
  const baseline = JSON.parse(await (primary.child.kill('SIGUSR1'), primary.next((line) => line.includes('forks')))).forks;
  for (const pid of workerPidsOf(primary.child.pid)) process.kill(pid, 'SIGKILL');
  await sleep(WINDOW_MS);
  primary.child.kill('SIGUSR1');
  const report = JSON.parse(await primary.next((line) => line.includes('forks')));
  primary.child.kill('SIGTERM');
  await primary.exited;
  rmSync(flag, { force: true });
  return { forks: report.forks - baseline, crashLoop: report.status };
}

async function primaryRss(kind) {
  if (kind === 'zdt start') {
    // A private directory: zdt refuses a control socket in a directory others can write to, such as the tmpdir itself.
    const directory = mkdtempSync(path.join(os.tmpdir(), 'zdt-measure-'));
    const primary = launch([cli, 'start', app, '--workers', String(workers), '--control', path.join(directory, 'control.sock')]);
    await primary.next((line) => line.includes('running;'));
    await sleep(1_000);
    const rss = rssMiB(primary.child.pid);
    primary.child.kill('SIGTERM');
    await primary.exited;
    rmSync(directory, { recursive: true, force: true });
    return rss;
  }
  const primary = launch([fileURLToPath(import.meta.url), '--primary', kind, String(workers)]);
  await primary.next((line) => line.includes('"ready"'));
  await sleep(1_000);
  const rss = rssMiB(primary.child.pid);
  primary.child.kill('SIGTERM');
  await primary.exited;
  return rss;
}

if (process.argv[2] === '--primary') {
  await runPrimary(process.argv[3], Number(process.argv[4]), process.argv[5]);
} else {
  if (!existsSync(cli)) throw new Error('build first: pnpm --filter @zero-downtime/core build');
  console.log(`node ${process.version}, ${workers} workers (os.availableParallelism()), app ${path.relative(process.cwd(), app)}`);
  console.log(`\n(a) forks in ${WINDOW_MS / 1000} s after the app starts crashing at boot (workers SIGKILLed once, then every boot throws)`);
  const supervised = await crashLoop('supervisor');
  console.log(`  Supervisor, default options : ${supervised.forks} forks (${(supervised.forks / workers).toFixed(1)} per worker); crash loop: ${JSON.stringify(supervised.crashLoop.map(({ workerId, quickCrashes, nextRestartInMs }) => ({ workerId, quickCrashes, nextRestartInMs })))}`);
  const bare = await crashLoop('bare');
  console.log(`  bare cluster, fork on exit  : ${bare.forks} forks`);
  console.log(`\n(b) primary RSS with ${workers} workers of the plain app, 1 s after all are ready`);
  for (const kind of ['bare', 'supervisor', 'zdt start']) {
    const label = { bare: 'bare node:cluster primary', supervisor: 'Supervisor (library)', 'zdt start': 'zdt start (CLI + control socket)' }[kind];
    console.log(`  ${label.padEnd(32)}: ${(await primaryRss(kind)).toFixed(1)} MiB`);
  }
}
