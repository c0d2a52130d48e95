// `pnpm test`, the fast tier (test/lib/tier.ts), after the build: the package tests and the end-to-end tests run side
// by side, each one file at a time, so two test files run at once on 2 cores and no two load tests ever do. The
// end-to-end output streams live; the package tests' output is printed as one block when they end. The exit status
// is 0 only when both runs passed, and the last line says which failed.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const began = performance.now();

/** Runs one vitest project; resolves with its exit status and its summary line ('N passed, M failed'). */
function run(project, live) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', '--project', project], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
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
      if (!live) process.stdout.write(`\n---- package tests (ran beside the end-to-end tests) ----\n${output}---- end of the package tests ----\n\n`);
      const summary = [...output.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1)?.[0] ?? 'no summary';
      resolve({ project, code: code ?? 1, signal, summary });
    });
  });
}

const results = await Promise.all([run('e2e', true), run('packages', false)]);
const seconds = ((performance.now() - began) / 1000).toFixed(0);
const failed = results.filter((result) => result.code !== 0);
const parts = results.map((result) => `${result.project}: ${result.summary}${result.code === 0 ? '' : ` (exit ${result.signal ?? result.code})`}`).join('; ');
if (failed.length === 0) {
  console.log(`pnpm test: passed in ${seconds}s (${parts})`);
} else {
  console.log(`pnpm test: FAILED in ${seconds}s (${parts})`);
  process.exitCode = 1;
}
