/**
 * The canary verdict (primary/canary/verdict.ts): the one-sided Fisher test against values computed by hand, and
 * pass, fail and thin with their numbers in the message.
 */
import { describe, expect, it } from 'vitest';
import { canaryVerdict, CANARY_ALPHA, CANARY_MARGIN, fisherOneSided } from '../src/primary/canary/verdict.js';

const policy = { minRequests: 100, alpha: CANARY_ALPHA, margin: CANARY_MARGIN };
const counts = (generation: number, requests: number, errors: number) => ({ generation, requests, errors });

describe('fisherOneSided', () => {
  it('matches the hypergeometric tail computed by hand', () => {
    // 3 of 4 vs 1 of 4: P(X >= 3) = (C(4,3)C(4,1) + C(4,4)C(4,0)) / C(8,4) = 17/70.
    expect(fisherOneSided(3, 4, 1, 4)).toBeCloseTo(17 / 70, 12);
    // 1 of 2 vs 0 of 2: P(X >= 1) = 1 - C(3,2)/C(4,2) = 1/2.
    expect(fisherOneSided(1, 2, 0, 2)).toBeCloseTo(0.5, 12);
    // Every request failed on the canary, none on the old: 1 / C(20, 10).
    expect(fisherOneSided(10, 10, 0, 10)).toBeCloseTo(1 / 184_756, 15);
  });

  it('is 1 when there is no 5xx at all, or the canary has fewer than its share', () => {
    expect(fisherOneSided(0, 500, 0, 500)).toBe(1);
    expect(fisherOneSided(0, 500, 5, 500)).toBe(1);
  });

  it('stays finite and small at large counts', () => {
    const p = fisherOneSided(97, 312, 3, 801);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-30);
  });
});

describe('canaryVerdict', () => {
  it('refuses a canary that fails every request, naming the counts, the ratios and the p-value', () => {
    const verdict = canaryVerdict(counts(3, 312, 312), counts(2, 801, 3), policy);
    expect(verdict.outcome).toBe('fail');
    expect(verdict.message).toMatch(/^canary: 312 requests, 312 5xx \(100\.0%\) vs 3 of 801 \(0\.4%\) on generation 2 \(one-sided Fisher p=\d\.\de-\d+ < 0\.001, \+99\.6 points > 1-point margin\)$/);
  });

  it('refuses a canary that fails 20% of requests against 1%', () => {
    const verdict = canaryVerdict(counts(3, 300, 60), counts(2, 300, 3), policy);
    expect(verdict.outcome).toBe('fail');
    expect(verdict.pValue).toBeLessThan(1e-10);
  });

  it('accepts the same 1% ratio on both sides', () => {
    const verdict = canaryVerdict(counts(3, 400, 4), counts(2, 400, 4), policy);
    expect(verdict.outcome).toBe('pass');
    expect(verdict.message).toMatch(/\(one-sided Fisher p=0\.\d+ >= 0\.001\)$/);
  });

  it('accepts a significant but tiny difference at huge counts: the absolute margin guards it', () => {
    const verdict = canaryVerdict(counts(3, 1_000_000, 3_000), counts(2, 1_000_000, 1_000), policy);
    expect(verdict.pValue).toBeLessThan(CANARY_ALPHA);
    expect(verdict.outcome).toBe('pass');
    expect(verdict.message).toMatch(/but \+0\.2 points is within the 1-point margin\)$/);
  });

  it('gives no verdict below the minimum count, however bad the canary looks', () => {
    const verdict = canaryVerdict(counts(3, 99, 99), counts(2, 400, 0), policy);
    expect(verdict.outcome).toBe('thin');
    expect(verdict.pValue).toBeUndefined();
    expect(verdict.message).toBe('canary: 99 requests, 99 5xx (100.0%) vs 0 of 400 (0.0%) on generation 2: fewer than the 100 canary requests a verdict needs');
  });

  it('gives no verdict when no request reached the old generation', () => {
    const verdict = canaryVerdict(counts(3, 400, 400), counts(2, 0, 0), policy);
    expect(verdict.outcome).toBe('thin');
    expect(verdict.message).toMatch(/no request reached generation 2 to compare with$/);
  });
});

describe('canaryVerdict at counts where the p-value underflows', () => {
  it('says p<1e-300 rather than p=0', () => {
    const verdict = canaryVerdict(counts(1, 700, 700), counts(0, 620, 0), policy);
    expect(verdict.pValue).toBe(0);
    expect(verdict.message).toMatch(/\(one-sided Fisher p<1e-300 < 0\.001, \+100\.0 points > 1-point margin\)$/);
  });
});
