import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import SummaryReporter from './scripts/summary-reporter.js';

// The NestJS adapter's tests run twice: against NestJS 11 (packages/nest's own devDependencies) and against NestJS 12,
// installed under its real names in packages/nest/test/nest-12 so that its packages find each other as peers. The
// aliases send the adapter's sources and the test files to that install.
const nest12 = fileURLToPath(new URL('./packages/nest/test/nest-12/node_modules/', import.meta.url));
const nest12Aliases = [{ find: /^@nestjs\/(common|core|platform-express|platform-fastify)(\/.*)?$/, replacement: `${nest12}@nestjs/$1$2` }];

// Tests fork real workers and put them under load; on a 2-core machine running
// files side by side only makes them compete, so files run one at a time
// (one pool for every project below).
export default defineConfig({
  test: {
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', new SummaryReporter()],
    projects: [
      {
        extends: true,
        test: { name: 'all', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'], provide: { nestMajor: 11 } },
      },
      {
        extends: true,
        resolve: { alias: nest12Aliases },
        test: { name: 'nest-12', include: ['packages/nest/test/**/*.test.ts'], provide: { nestMajor: 12 } },
      },
    ],
  },
});
