import { defineConfig } from 'vitest/config';
import SummaryReporter from './scripts/summary-reporter.js';

// Tests fork real workers and put them under load; on a 2-core machine running
// files side by side only makes them compete, so files run one at a time.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', new SummaryReporter()],
  },
});
