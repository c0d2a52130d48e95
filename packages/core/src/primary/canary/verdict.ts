/**
 * The canary verdict: one pure function that compares the new generation's 5xx ratio with the old generation's over
 * the same window, and says pass, fail or thin (too little traffic to judge), with its numbers in its message.
 *
 * The test is a one-sided Fisher's exact test for two proportions: the chance, if both generations failed at the same
 * rate, of the canary getting at least as many 5xx as it did, given the total of 5xx in the window. It is exact at
 * every count (a z-test is not when 5xx are rare, which is the usual case: 0 or 1 errors on the old generation), and
 * conservative, so its false-positive rate stays at or below the level. A canary is refused only when the test is
 * significant AND its ratio exceeds the old one by more than an absolute margin: at huge counts a ratio worse by a
 * hair is significant, yet not worth a rollback.
 */

/** What one generation served during the window. */
export interface CanaryCounts {
  generation: number;
  requests: number;
  /** Responses with a 5xx status. */
  errors: number;
}

export interface CanaryPolicy {
  /** Canary requests needed before any verdict. */
  minRequests: number;
  /** The significance level of the one-sided Fisher test. */
  alpha: number;
  /** How much worse (an absolute difference of ratios, 0.01 = 1 percentage point) the canary must be to be refused. */
  margin: number;
}

/** The level and margin every canary uses; the minimum count is a setting. */
export const CANARY_ALPHA = 0.001;
export const CANARY_MARGIN = 0.01;

export type CanaryOutcome = 'pass' | 'fail' | 'thin';

export interface CanaryVerdict {
  outcome: CanaryOutcome;
  canary: CanaryCounts;
  baseline: CanaryCounts;
  /** One-sided Fisher p-value; undefined when the traffic was too thin to test. */
  pValue: number | undefined;
  /** canary ratio - baseline ratio. */
  difference: number;
  /** One line with every number the verdict rests on. */
  message: string;
}

/** log Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
function logGamma(x: number): number {
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const shifted = x - 1;
  let sum = coefficients[0]!;
  for (let index = 1; index < 9; index++) sum += coefficients[index]! / (shifted + index);
  const t = shifted + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (shifted + 0.5) * Math.log(t) - t + Math.log(sum);
}

const logChoose = (n: number, k: number) => logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);

/**
 * One-sided Fisher's exact test: P(X >= canaryErrors) where X, the canary's share of all 5xx in the window, is
 * hypergeometric under "both generations fail at the same rate".
 */
export function fisherOneSided(canaryErrors: number, canaryRequests: number, baselineErrors: number, baselineRequests: number): number {
  const total = canaryRequests + baselineRequests;
  const errors = canaryErrors + baselineErrors;
  if (total === 0 || errors === 0) return 1;
  const highest = Math.min(errors, canaryRequests);
  const logDenominator = logChoose(total, canaryRequests);
  let logTerm = logChoose(errors, canaryErrors) + logChoose(total - errors, canaryRequests - canaryErrors) - logDenominator;
  let term = Math.exp(logTerm);
  let sum = term;
  for (let x = canaryErrors; x < highest; x++) {
    // P(x + 1) / P(x) for the hypergeometric distribution.
    logTerm += Math.log(((errors - x) * (canaryRequests - x)) / ((x + 1) * (total - errors - canaryRequests + x + 1)));
    term = Math.exp(logTerm);
    sum += term;
    // Past the mode the terms only shrink: stop once they no longer change the sum.
    if (term < sum * 1e-17 && x > (errors * canaryRequests) / total) break;
  }
  return Math.min(1, sum);
}

const percent = (errors: number, requests: number) => (requests === 0 ? '-' : `${((100 * errors) / requests).toFixed(1)}%`);

/** 0.41, 0.0004, 1.2e-40: a p-value with two significant digits. */
export function formatP(p: number): string {
  if (p >= 0.001) return String(Number(p.toPrecision(2)));
  return p.toExponential(1);
}

/** The verdict on one window. Pure: the same counts always give the same verdict and message. */
export function canaryVerdict(canary: CanaryCounts, baseline: CanaryCounts, policy: CanaryPolicy): CanaryVerdict {
  const canaryRatio = canary.requests === 0 ? 0 : canary.errors / canary.requests;
  const baselineRatio = baseline.requests === 0 ? 0 : baseline.errors / baseline.requests;
  const difference = canaryRatio - baselineRatio;
  const figures = `canary: ${canary.requests} requests, ${canary.errors} 5xx (${percent(canary.errors, canary.requests)}) vs ${baseline.errors} of ${baseline.requests} (${percent(baseline.errors, baseline.requests)}) on generation ${baseline.generation}`;
  if (canary.requests < policy.minRequests || baseline.requests === 0) {
    const why =
      canary.requests < policy.minRequests
        ? `fewer than the ${policy.minRequests} canary requests a verdict needs`
        : `no request reached generation ${baseline.generation} to compare with`;
    return { outcome: 'thin', canary, baseline, pValue: undefined, difference, message: `${figures}: ${why}` };
  }
  const pValue = fisherOneSided(canary.errors, canary.requests, baseline.errors, baseline.requests);
  const points = `${difference >= 0 ? '+' : ''}${(100 * difference).toFixed(1)} points`;
  const marginText = `${Number((100 * policy.margin).toPrecision(3))}-point margin`;
  const significant = pValue < policy.alpha;
  const beyondMargin = difference > policy.margin;
  // Below about 1e-308 the p-value underflows to 0.
  const test = `one-sided Fisher ${pValue === 0 ? 'p<1e-300' : `p=${formatP(pValue)}`} ${significant ? '<' : '>='} ${policy.alpha}`;
  const detail = significant && !beyondMargin ? `${test}, but ${points} is within the ${marginText}` : significant ? `${test}, ${points} > ${marginText}` : test;
  return { outcome: significant && beyondMargin ? 'fail' : 'pass', canary, baseline, pValue, difference, message: `${figures} (${detail})` };
}
