// One run of the test suite, in the tier ZDT_TEST_TIER names (test/lib/tier.ts; fast unless it is 'full'), after
// the build: the package tests (and in the full tier the NestJS 12 project) run beside the end-to-end tests, each
// side one file at a time, so two test files run at once on 2 cores and no two load tests ever do. The end-to-end
// output streams live; the package tests' output is printed as one block when they end. The last two lines are the
// total ("N passed, N failed", which scripts/test-matrix.mjs adds up) and the verdict, naming the side that failed;
// the exit status is 0 only when both sides passed.
//
// Usage: node scripts/run-suite.mjs   (`pnpm test` builds first, then runs this in the fast tier)
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const full = process.env.ZDT_TEST_TIER === 'full';
const began = performance.now();

/** Runs vitest on `projects`; resolves with its exit status and its counts (from its 'N passed, N failed' line). */
function run(name, projects, live) {
  return new Promise((resolve) => {
    const args = [vitest, 'run', ...projects.flatMap((project) => ['--project', project])];
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

const sides = await Promise.all([
  run('end-to-end tests', ['e2e'], true),
  run('package tests', full ? ['packages', 'nest-12'] : ['packages'], false),
]);
const seconds = ((performance.now() - began) / 1000).toFixed(0);
const total = { passed: 0, failed: 0, skipped: 0 };
for (const side of sides) {
  // A side that failed without a failed test (a crash, no summary) still counts as a failure.
  const counts = side.counts ?? { passed: 0, failed: 1, skipped: 0 };
  if (side.code !== 0 && counts.failed === 0) counts.failed = 1;
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}
const failed = sides.filter((side) => side.code !== 0);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
const tierName = full ? 'full tier' : 'fast tier';
if (failed.length === 0) console.log(`test suite (${tierName}): passed in ${seconds}s`);
else {
  console.log(`test suite (${tierName}): FAILED in ${seconds}s: ${failed.map((side) => `the ${side.name} (exit ${side.signal ?? side.code})`).join(' and ')}`);
  process.exitCode = 1;
}
