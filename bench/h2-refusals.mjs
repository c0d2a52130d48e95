#!/usr/bin/env node
// What HTTP/2 clients that do not resend refused streams see through rolling restarts: h2load (nghttp2) and curl,
// both over TLS with ALPN h2, against the Fastify `http2: true` app of the e2e tests under `zdt start` (2 workers),
// while `zdt reload` runs RELOADS times. A stream the client sent while a GOAWAY travelled is refused (never
// processed); h2load counts it as failed, curl prints "Error in the HTTP2 framing layer".
//
// Usage: node bench/h2-refusals.mjs [--root DIR] [--reloads N] [--rounds N]   (needs h2load and curl on PATH:
// Debian's nghttp2-client and curl). --root runs another checkout's zdt and fixture (to compare two commits).
// Prints one line per round and a total; writes bench/results/h2-refusals.json unless --root is given.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { root: { type: 'string' }, reloads: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' } } });
const here = fileURLToPath(new URL('..', import.meta.url));
const root = path.resolve(values.root ?? here);
const reloads = Number(values.reloads);
const rounds = Number(values.rounds);
for (const tool of ['h2load', 'curl']) {
  if (spawnSync(tool, ['--version']).status !== 0) {
    console.error(`${tool} is missing: apt-get install -y nghttp2-client curl`);
    process.exit(2);
  }
}
const zdt = path.join(root, 'packages/core/bin/zdt.cjs');
const app = path.join(root, 'test/fixtures/h2/app.mjs');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** curl processes, each asking for `count` URLs one after the other on one connection, until `until`. */
async function curlLoop(url, until, count = 300) {
  const totals = { requests: 0, failed: 0, errors: {} };
  while (Date.now() < until) {
    const { out } = await run('curl', ['-k', '--http2', '-sS', '-o', '/dev/null', '-w', '%{http_code}\\n', `${url}?[1-${count}]`]);
    for (const line of out.split('\n').filter(Boolean)) {
      if (/^\d{3}$/.test(line)) {
        totals.requests += 1;
        if (line !== '200') totals.failed += 1;
      } else {
        const message = line.replace(/^curl: \(\d+\) /, '');
        totals.errors[message] = (totals.errors[message] ?? 0) + 1;
      }
    }
  }
  return totals;
}

async function round() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-h2-'));
  const control = path.join(scratch, 'zdt.sock');
  const supervisor = spawn(process.execPath, [zdt, 'start', app, '--workers', '2', '--control', control], {
    env: { ...process.env, H2_APP: 'fastify', H2_TLS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  supervisor.stdout.on('data', (chunk) => (output += chunk));
  supervisor.stderr.on('data', (chunk) => (output += chunk));
  while (!/supervisor pid \d+ running/.test(output)) {
    if (supervisor.exitCode !== null) throw new Error(`zdt start exited:\n${output}`);
    await sleep(50);
  }
  const port = Number(/listening on [\d.]+:(\d+)/.exec(output)?.[1] ?? /listening (\d+)/.exec(output)?.[1]);
  const url = `https://127.0.0.1:${port}/ping`;
  const seconds = 2 + reloads * 2;
  const until = Date.now() + seconds * 1000;
  const h2load = run('h2load', ['-c', '4', '-m', '10', '-D', String(seconds), url]);
  const curls = Promise.all(Array.from({ length: 4 }, () => curlLoop(url, until)));
  await sleep(1000);
  const rollouts = [];
  for (let index = 0; index < reloads; index++) {
    const result = await run(process.execPath, [zdt, 'reload', '--control', control]);
    rollouts.push(result.code);
    await sleep(1000);
  }
  const h2 = await h2load;
  const curl = await curls;
  await run(process.execPath, [zdt, 'stop', '--control', control]);
  await new Promise((resolve) => (supervisor.exitCode === null ? supervisor.on('close', resolve) : resolve()));
  rmSync(scratch, { recursive: true, force: true });
  const line = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(h2.out);
  if (!line) throw new Error(`h2load printed no totals:\n${h2.out}`);
  const curlTotal = curl.reduce((sum, one) => ({ requests: sum.requests + one.requests, failed: sum.failed + one.failed }), { requests: 0, failed: 0 });
  const curlErrors = {};
  for (const one of curl) for (const [message, count] of Object.entries(one.errors)) curlErrors[message] = (curlErrors[message] ?? 0) + count;
  return {
    reloadExitCodes: rollouts,
    h2load: { started: Number(line[2]), succeeded: Number(line[4]), failed: Number(line[5]), errored: Number(line[6]) },
    curl: { requests: curlTotal.requests, failed: curlTotal.failed, errors: curlErrors },
  };
}

const results = [];
for (let index = 1; index <= rounds; index++) {
  const result = await round();
  results.push(result);
  console.log(
    `round ${index}: reloads exit ${result.reloadExitCodes.join(',')}; h2load ${result.h2load.started} streams, ${result.h2load.failed} failed; ` +
      `curl ${result.curl.requests} requests, ${result.curl.failed} non-200, errors ${JSON.stringify(result.curl.errors)}`,
  );
}
const sum = (pick) => results.reduce((total, result) => total + pick(result), 0);
const curlErrorCount = sum((result) => Object.values(result.curl.errors).reduce((a, b) => a + b, 0));
console.log(
  `total over ${rounds} rounds x ${reloads} reloads: h2load ${sum((r) => r.h2load.failed)} failed of ${sum((r) => r.h2load.started)} streams; ` +
    `curl ${curlErrorCount} errors and ${sum((r) => r.curl.failed)} non-200 of ${sum((r) => r.curl.requests)} requests`,
);
if (!values.root) {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).stdout.trim();
  writeFileSync(
    path.join(here, 'bench/results/h2-refusals.json'),
    `${JSON.stringify({ date: new Date().toISOString(), commit, node: process.version, reloads, rounds, results }, null, 2)}\n`,
  );
}
