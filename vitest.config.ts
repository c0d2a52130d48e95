import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import SummaryReporter from './scripts/summary-reporter.js';

// Two tiers (test/lib/tier.ts). `pnpm test` is the fast tier: one end-to-end cell per claim, nothing from the
// network; scripts/run-suite.mjs runs two lanes side by side, each one file at a time. `pnpm test:matrix` sets
// ZDT_TEST_TIER=full: every cell, HAProxy, the packed install, other Node majors and the NestJS 12 project, one file at
// a time (tests fork real workers and put them under load; on 2 cores running load tests side by side only makes
// them compete).
const full = process.env.ZDT_TEST_TIER === 'full';

// The NestJS adapter's tests run twice in the full tier: against NestJS 11 (packages/nest's own devDependencies) and
// against NestJS 12, installed under its real names in packages/nest/test/nest-12 so that its packages find each
// other as peers. The aliases send the adapter's sources and the test files to that install.
const nest12 = fileURLToPath(new URL('./packages/nest/test/nest-12/node_modules/', import.meta.url));
const nest12Aliases = [{ find: /^@nestjs\/(common|core|platform-express|platform-fastify)(\/.*)?$/, replacement: `${nest12}@nestjs/$1$2` }];

/** End-to-end files that need the network (HAProxy from Debian, packages from the npm registry): full tier only. */
const NETWORK_ONLY = ['test/balancer.e2e.test.ts', 'test/packed-install.e2e.test.ts'];

/**
 * End-to-end files that mostly wait (npm installs, drain timers, manifests, deploys with a few requests) rather than
 * load the machine. They form their own project, e2e-waiting, which scripts/run-suite.mjs runs after the package
 * tests, beside the end-to-end tests: the package tests end long before the end-to-end tests do.
 */
const WAITING = [
  'test/packed-install.e2e.test.ts',
  'test/deploy-results.e2e.test.ts',
  'test/kubernetes-manifests.test.ts',
  'test/standalone-sigterm.e2e.test.ts',
  'test/boot-failure.e2e.test.ts',
  'test/releases.e2e.test.ts',
  'test/in-place-release.e2e.test.ts',
];

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
        test: { name: 'packages', include: ['packages/*/test/**/*.test.ts'], provide: { nestMajor: 11 } },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...WAITING, ...(full ? [] : NETWORK_ONLY)], provide: { nestMajor: 11 } },
      },
      { extends: true, test: { name: 'e2e-waiting', include: full ? WAITING : WAITING.filter((file) => !NETWORK_ONLY.includes(file)), provide: { nestMajor: 11 } } },
      ...(full
        ? [
            {
              extends: true as const,
              resolve: { alias: nest12Aliases },
              test: { name: 'nest-12', include: ['packages/nest/test/**/*.test.ts'], provide: { nestMajor: 12 } },
            },
          ]
        : []),
    ],
  },
});
