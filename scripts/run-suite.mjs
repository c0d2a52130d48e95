// One run of the test suite, in the tier ZDT_TEST_TIER names (test/lib/tier.ts; fast unless it is 'full'), after
// the build, in two lanes side by side, each one file at a time, so two test files run at once on 2 cores:
// - the end-to-end tests, which put real apps under load (their output streams live);
// - the package tests (single-process tests: one supervisor or one worker, small loads), in the full tier the NestJS
//   12 project too, and then the e2e-waiting project: the end-to-end files that mostly wait (npm installs, drain
//   timers, manifests, deploys; listed in vitest.config.ts) rather than load the machine. The package tests end long
//   before the end-to-end tests do. This lane's output is printed as one block when it ends.
// The last two lines are the total ("N passed, N failed", which scripts/test-matrix.mjs adds up) and the verdict,
// naming the lane that failed; the exit status is 0 only when both lanes passed.
//
// Usage: node scripts/run-suite.mjs   (`pnpm test` builds first, then runs this in the fast tier)
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const full = process.env.ZDT_TEST_TIER === 'full';
const began = performance.now();

/** Runs vitest with `args`; resolves with its exit status and its counts (from its 'N passed, N failed' line). */
function run(name, vitestArgs, live) {
  return new Promise((resolve) => {
    const args = [vitest, 'run', ...vitestArgs];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const chunks = [];
    const take = (stream, target) =>
      stream.on('data', (chunk) => {
        chunks.push(chunk);
        if (live) target.write(chunk);
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on('close', (code, signal) => {
      const output = Buffer.concat(chunks).toString('utf8');
      if (!live) process.stdout.write(`\n---- ${name} (ran beside the end-to-end tests) ----\n${output}---- end of the ${name} ----\n\n`);
      const match = [...output.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].at(-1);
      const counts = match ? { passed: Number(match[1]), failed: Number(match[2]), skipped: Number(match[3] ?? 0) } : undefined;
      resolve({ name, code: code ?? 1, signal, counts });
    });
  });
}

/** Runs each step after the other; the lane's result adds up their counts. */
async function lane(steps) {
  const results = [];
  for (const step of steps) results.push(await step());
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const result of results) {
    const own = result.counts ?? { passed: 0, failed: 1, skipped: 0 };
    if (result.code !== 0 && own.failed === 0) own.failed = 1;
    for (const key of Object.keys(counts)) counts[key] += own[key];
  }
  const failed = results.find((result) => result.code !== 0);
  return { name: results.map((result) => result.name).join(' + '), code: failed ? failed.code : 0, signal: failed?.signal, counts };
}

const project = (name) => ['--project', name];
const sides = await Promise.all([
  lane([() => run('end-to-end tests', project('e2e'), true)]),
  lane([
    () => run('package tests', full ? [...project('packages'), ...project('nest-12')] : project('packages'), false),
    () => run('end-to-end tests that mostly wait', project('e2e-waiting'), false),
  ]),
]);
const seconds = ((performance.now() - began) / 1000).toFixed(0);
const total = { passed: 0, failed: 0, skipped: 0 };
for (const side of sides) for (const key of Object.keys(total)) total[key] += side.counts[key];
const failed = sides.filter((side) => side.code !== 0);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
const tierName = full ? 'full tier' : 'fast tier';
if (failed.length === 0) console.log(`test suite (${tierName}): passed in ${seconds}s`);
else {
  console.log(`test suite (${tierName}): FAILED in ${seconds}s: ${failed.map((side) => `the ${side.name} (exit ${side.signal ?? side.code})`).join(' and ')}`);
  process.exitCode = 1;
}
