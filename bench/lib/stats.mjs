// Figures that hold still: a median with its spread, from many short runs taken in turn, and a verdict that says
// "too noisy" rather than print a ratio the runs cannot support.

/** The value at quantile `q` (0..1) of sorted values, linearly interpolated. */
function quantile(sorted, q) {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/**
 * Median, quartiles, extremes, and a 95% confidence interval of the median from order statistics (distribution-free:
 * the k-th and (n+1-k)-th smallest values, k from the binomial(n, 1/2) bound), so no shape of noise is assumed.
 */
export function summarize(values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n, median: Number.NaN, q1: Number.NaN, q3: Number.NaN, min: Number.NaN, max: Number.NaN, ciLow: Number.NaN, ciHigh: Number.NaN };
  const k = Math.max(0, Math.floor((n - 1.96 * Math.sqrt(n)) / 2));
  return {
    n,
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    min: sorted[0],
    max: sorted[n - 1],
    ciLow: sorted[k],
    ciHigh: sorted[n - 1 - k],
  };
}

/** Ratios of runs taken next to each other in time (round i of B over round i of A): drift cancels out. */
export function pairedRatios(reference, candidate) {
  const count = Math.min(reference.length, candidate.length);
  return Array.from({ length: count }, (_, index) => candidate[index] / reference[index]);
}

/**
 * A ratio's verdict against `target` (a ratio the candidate must stay at or under). Decided when the 95% confidence
 * interval of the median lies on one side of the target (wholly at or under it: met; wholly over it: not met), or is
 * narrower than `maxWidth`; otherwise the run was too noisy to say, and no ratio is printed.
 */
export function judgeRatio(summary, { target, maxWidth }) {
  const width = summary.ciHigh - summary.ciLow;
  const oneSide = summary.ciHigh <= target || summary.ciLow > target;
  if (!oneSide && !(width <= maxWidth)) return { decided: false, met: false, width };
  return { decided: true, met: summary.median <= target, width };
}

const fixed = (value, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** `1.004x (95% CI 0.998–1.010; IQR 0.995–1.012; min–max 0.97–1.06, 41 runs)`, or the spread alone when undecided. */
export function describeRatio(summary, verdict) {
  const spread = `95% CI ${fixed(summary.ciLow)}–${fixed(summary.ciHigh)}; IQR ${fixed(summary.q1)}–${fixed(summary.q3)}; min–max ${fixed(summary.min, 2)}–${fixed(summary.max, 2)}, ${summary.n} runs`;
  if (verdict && !verdict.decided) return `too noisy to decide (${spread})`;
  return `${fixed(summary.median)}x (${spread})`;
}

/** A plain value with its spread: `5.71 µs (IQR 5.65–5.80)`. */
export function describeValue(summary, unit, digits = 1) {
  return `${fixed(summary.median, digits)} ${unit} (IQR ${fixed(summary.q1, digits)}–${fixed(summary.q3, digits)})`;
}
