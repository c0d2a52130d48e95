// pnpm demo: an example app under the supervisor, under load, through two rolling
// restarts and a deploy of a release that cannot boot; live progress, then a verdict.
// Nothing to set up, under a minute, leaves nothing running (Ctrl-C included).
//
//   node bench/demo.mjs [--example express|fastify|nest] [--workers 2] [--clients 16]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Supervisor } from '@zero-downtime/core';
import { childrenOf, freePort, killTree, startLoad, waitForHttp } from '@zero-downtime/testkit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    example: { type: 'string' },
    workers: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
  },
});

const entries = { express: 'app.mjs', fastify: 'app.mjs', nest: 'main.mjs' };
const example = flags.example ?? 'express';
if (!entries[example]) {
  console.error(`--example must be one of ${Object.keys(entries).join(', ')}; got ${JSON.stringify(example)}`);
  process.exit(2);
}
const workers = Number(flags.workers);
const clients = Number(flags.clients);
const appUrl = pathToFileURL(path.join(root, 'examples', example, entries[example])).href;

// A deploy puts new code where the supervisor's entry points; each release here is
// a small file in a temporary directory that loads the example app.
const releaseDir = mkdtempSync(path.join(tmpdir(), 'zdt-demo-'));
const entry = path.join(releaseDir, 'release.mjs');
function deploy(version, { broken = false } = {}) {
  writeFileSync(
    entry,
    [
      `// release ${version}`,
      broken ? `if (!process.env.DATABASE_URL) throw new Error('release ${version}: DATABASE_URL is not set');` : '',
      `await import(${JSON.stringify(appUrl)});`,
      '',
    ].join('\n'),
  );
}

const began = Date.now();
const clock = () => `${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s`;
const say = (line) => console.log(`${clock()}  ${line}`);
const number = (value) => value.toLocaleString('en-US');

let supervisor;
let load;
let ticker;
let finished = false;

async function cleanUp() {
  clearInterval(ticker);
  await load?.stop();
  if (supervisor && supervisor.status().state !== 'stopped') {
    await Promise.race([supervisor.stop().catch(() => {}), sleep(8_000)]);
  }
  for (const pid of childrenOf(process.pid)) killTree(pid, 'SIGKILL');
  rmSync(releaseDir, { recursive: true, force: true });
}

process.once('SIGINT', () => {
  if (finished) return;
  console.log('\nInterrupted: stopping the workers...');
  cleanUp().finally(() => process.exit(130));
});

/** Deploys a release that throws at boot: the supervisor's refusal, and how many old workers kept serving. */
async function deployBroken() {
  deploy('v4', { broken: true });
  const beforeBad = supervisor.status().workers.map((worker) => worker.pid);
  say('deploy v4: this release throws at boot (DATABASE_URL is not set)');
  let refusal;
  try {
    await supervisor.reload();
  } catch (error) {
    refusal = error;
    say(`deploy v4 refused: ${error.code}: ${error.message.split('\n')[0]}`);
  }
  await sleep(2_000);
  const afterBad = supervisor.status().workers.map((worker) => worker.pid);
  return { refusal, keptServing: beforeBad.filter((pid) => afterBad.includes(pid)).length };
}

async function main() {
  const port = await freePort();
  deploy('v1');
  console.log(
    `zero-downtime demo: ${workers} workers of examples/${example} under the supervisor, ${clients} keep-alive clients sending GET /ping and POST /echo (every echoed body checked)\n`,
  );
  supervisor = new Supervisor({
    entry,
    cwd: releaseDir,
    workers,
    env: { PORT: String(port), HOST: '127.0.0.1' },
    logger: false,
    drainTimeoutMs: 10_000,
  });
  supervisor.on('rollout:progress', ({ workerId, oldPid, newPid, done, total }) =>
    say(`  worker ${workerId}: ${oldPid ?? '-'} -> ${newPid} ready, old one drained (${done}/${total})`),
  );
  supervisor.on('crash', ({ pid, code, signal }) => say(`  a worker exited unexpectedly: pid ${pid} (${signal ?? `code ${code}`})`));
  await supervisor.start();
  await waitForHttp(port);
  const firstPids = supervisor.status().workers.map((worker) => worker.pid);
  say(`started: workers ${firstPids.join(', ')} on http://127.0.0.1:${port}`);

  load = startLoad({ port, clients, durationMs: 55_000, requestTimeoutMs: 15_000 });
  let last = { sent: 0, at: Date.now() };
  ticker = setInterval(() => {
    const now = load.progress();
    const rate = ((now.sent - last.sent) * 1000) / Math.max(1, Date.now() - last.at);
    last = { sent: now.sent, at: Date.now() };
    say(`load: ${number(now.sent)} requests, ${number(now.failed)} failed, ${number(Math.round(rate))} req/s`);
  }, 1_000);
  ticker.unref();

  await sleep(2_000);
  const rollouts = [];
  for (const version of ['v2', 'v3']) {
    deploy(version);
    say(`deploy ${version}: rolling restart (start the new worker first, then drain the old one)`);
    const result = await supervisor.reload();
    rollouts.push(result);
    say(`deploy ${version} done in ${(result.durationMs / 1000).toFixed(1)}s: ${result.replaced.length} of ${workers} workers replaced`);
    await sleep(1_500);
  }

  const { refusal, keptServing } = await deployBroken();
  clearInterval(ticker);
  const result = await load.stop();
  say('stopping the supervisor (drains the workers)');
  await supervisor.stop();
  const leftovers = childrenOf(process.pid);

  const replaced = rollouts.reduce((sum, rollout) => sum + rollout.replaced.filter((entry) => entry.oldPid !== undefined).length, 0);
  const wanted = rollouts.length * workers;
  const badRefused = refusal !== undefined && keptServing === workers;
  const pass = result.failed === 0 && replaced === wanted && badRefused && leftovers.length === 0;
  const reasons = Object.entries(result.failures)
    .map(([reason, count]) => `${count} ${reason}`)
    .join(', ');
  console.log(`
| verdict | |
| --- | --- |
| requests sent | ${number(result.sent)} |
| requests failed | ${number(result.failed)}${reasons ? ` (${reasons})` : ''} |
| workers replaced | ${replaced} of ${wanted} (${rollouts.length} rolling restarts, ${rollouts.map((rollout) => `${(rollout.durationMs / 1000).toFixed(1)}s`).join(' and ')}) |
| bad release refused | ${badRefused ? `yes: ${refusal.code}, ${keptServing} of ${workers} old workers kept serving` : refusal ? `refused, but only ${keptServing} of ${workers} old workers kept serving` : 'no: the reload reported success'} |
| processes left running | ${leftovers.length} |
| result | ${pass ? 'PASS: every request answered through every deploy' : 'FAIL'} |
`);
  return pass;
}

let pass = false;
try {
  pass = await main();
} catch (error) {
  console.error(`\ndemo failed: ${error.stack ?? error}`);
} finally {
  finished = true;
  await cleanUp();
}
process.exit(pass ? 0 : 1);
