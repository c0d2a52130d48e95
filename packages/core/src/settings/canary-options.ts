/** The supervisor's canary options (primary/canary/canary.ts): their types, defaults and validation, in one place. */
import { DEFAULTS } from './defaults.js';
import { MAX_TIMER_MS, oneOf, readOption as read, wholeNumber } from './parse.js';

export type ThinTraffic = 'pass' | 'fail' | 'extend';

export interface CanaryOptions {
  /**
   * Canary window after a rollout's first batch is ready: its 5xx ratio is compared with the old generation's over
   * the same window, and a worse one is refused and rolled back (one-sided Fisher test, p < 0.001, and more than 1
   * percentage point). 0 turns it off. @default 0
   */
  canaryMs?: number;
  /** Canary requests needed before any verdict. @default 100 */
  canaryMinRequests?: number;
  /** Too few canary requests: accept ('pass'), refuse ('fail'), or extend the window up to 5 times its length, then refuse. @default 'extend' */
  canaryThinTraffic?: ThinTraffic;
}

export type ResolvedCanaryOptions = Required<CanaryOptions>;

export const readCanaryMs = (value: unknown): number => read('canaryMs', value, wholeNumber(0, MAX_TIMER_MS));

export function resolveCanaryOptions(options: CanaryOptions): ResolvedCanaryOptions {
  return {
    canaryMs: readCanaryMs(options.canaryMs ?? DEFAULTS.canaryMs),
    canaryMinRequests: read('canaryMinRequests', options.canaryMinRequests ?? DEFAULTS.canaryMinRequests, wholeNumber(1, 1_000_000_000)),
    canaryThinTraffic: read('canaryThinTraffic', options.canaryThinTraffic ?? DEFAULTS.canaryThinTraffic, oneOf('pass', 'fail', 'extend')),
  };
}
