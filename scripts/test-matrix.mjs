#!/usr/bin/env node
// The test suite once per Node.js major: the full tier (test/lib/tier.ts: every cell, HAProxy, the packed install,
// NestJS 12) on FULL_MAJOR, the newest LTS line, and the fast tier (one cell per claim) on every other major of
// FAST_MAJORS (the other LTS line the packages' engines name) and on this machine's Node when it is another major
// (Node 20 here: past its end of life, outside the engines, still checked). The full tier once and the fast tier on
// the others keeps `.ci/run` near 25 minutes on 2 cores, where the full tier on both LTS lines took 32. A major that is not this machine's comes from the npm registry (`npm install node@<major>`, the
// package that ships Node itself) into node_modules/.cache/node-<major>. Each run puts its Node first on PATH, so
// every process the tests start (workers, zdt, npm, PM2) runs on it too. The drain leans on Node internals that move
// between majors (a response's `_header`, the HTTP server's connection-check timer, diagnostics_channel names): this
// is where such a move shows. Each run is scripts/run-suite.mjs: the package tests beside the end-to-end tests.
//
// Usage: node scripts/test-matrix.mjs   (after `pnpm build`; `pnpm test:matrix` does both)
// Exit status 0 only when every run passed; the last line adds up every run's "N passed, N failed".
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FULL_MAJOR = 24;
const FAST_MAJORS = [22];

const root = fileURLToPath(new URL('..', import.meta.url));
const suite = path.join(root, 'scripts', 'run-suite.mjs');
const ownMajor = Number(process.versions.node.split('.')[0]);

function versionOf(node) {
  const result = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** A Node binary of that major, installed from the npm registry unless already there. */
function nodeOfMajor(major) {
  const prefix = path.join(root, 'node_modules', '.cache', `node-${major}`);
  const binary = path.join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (versionOf(binary)?.startsWith(`v${major}.`)) return binary;
  console.log(`\n== installing Node.js ${major} from the npm registry into ${path.relative(root, prefix)}`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const install = spawnSync(npm, ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `node@${major}`], {
    stdio: 'inherit',
    cwd: root,
    // npm's own settings only: pnpm exports its own as npm_config_* to the scripts it runs, and npm warns about them.
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key))),
  });
  if (install.status !== 0 || !existsSync(binary) || !versionOf(binary)?.startsWith(`v${major}.`)) {
    throw new Error(`could not install Node.js ${major} (npm exit ${install.status})`);
  }
  return binary;
}

/** One run of the suite on that Node, in that tier; its output streams through, its "N passed, N failed" line is kept. */
function runSuite(node, tier) {
  return new Promise((resolve) => {
    const began = Date.now();
    const env = { ...process.env, ZDT_TEST_TIER: tier, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
    const child = spawn(node, [suite], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let summary;
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(line.trim());
        if (match) summary = { passed: Number(match[1]), failed: Number(match[2]), skipped: Number(match[3] ?? 0) };
      }
    });
    child.on('close', (code, signal) => resolve({ code, signal, summary, seconds: Math.round((Date.now() - began) / 1000) }));
  });
}

const runs = [];
const tierOf = (major) => (major === FULL_MAJOR ? 'full' : 'fast');
const nodes = [{ label: `Node.js ${process.versions.node} (this machine's), ${tierOf(ownMajor)} tier`, binary: process.execPath, tier: tierOf(ownMajor) }];
let failedSetup = false;
for (const major of [...FAST_MAJORS, FULL_MAJOR].filter((major) => major !== ownMajor)) {
  try {
    const binary = nodeOfMajor(major);
    nodes.push({ label: `Node.js ${versionOf(binary).slice(1)}, ${tierOf(major)} tier`, binary, tier: tierOf(major) });
  } catch (error) {
    console.error(String(error));
    failedSetup = true;
  }
}

for (const node of nodes) {
  console.log(`\n== the test suite on ${node.label}\n`);
  runs.push({ ...node, ...(await runSuite(node.binary, node.tier)) });
}

console.log('\n== test matrix');
const total = { passed: 0, failed: 0, skipped: 0 };
for (const run of runs) {
  const counts = run.summary ?? { passed: 0, failed: 1, skipped: 0 };
  if (run.code !== 0 && counts.failed === 0) counts.failed = 1; // a run that failed without a failed test still fails
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
  const status = run.code === 0 ? 'ok' : `FAILED (exit ${run.code ?? run.signal})`;
  console.log(`${run.label}: ${counts.passed} passed, ${counts.failed} failed in ${run.seconds} s, ${status}`);
}
if (failedSetup) total.failed += 1;
const ok = !failedSetup && runs.every((run) => run.code === 0);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
process.exit(ok ? 0 : 1);
