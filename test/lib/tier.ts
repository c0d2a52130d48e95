/**
 * The two tiers of the suite. `pnpm test` runs the fast tier: one end-to-end cell per claim, 2 rollouts where a claim
 * needs repetitions, nothing from the network. `pnpm test:matrix` sets ZDT_TEST_TIER=full (scripts/test-matrix.mjs):
 * every cell of every matrix, the repetitions, HAProxy, the packed install, other Node majors, NestJS 12.
 */
export const FULL = process.env.ZDT_TEST_TIER === 'full';

/** `full` in the full tier, `fast` in the fast one. */
export function tier<T>(fast: T, full: T): T {
  return FULL ? full : fast;
}

/** Rolling restarts per cell: enough to show a second rollout from a replaced generation. */
export const ROLLOUTS = tier(2, 5);

/** Every cell in the full tier; in the fast tier only those `keep` picks (one per claim). */
export function cells<T>(all: readonly T[], keep: (cell: T) => boolean): T[] {
  return FULL ? [...all] : all.filter(keep);
}

