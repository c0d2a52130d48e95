/**
 * The app's own prom-client metrics, summed over the workers the way prom-client's AggregatorRegistry does (each
 * metric's `aggregator`: sum by default, or first, min, max, average, omit), over the supervisor's protocol, so an
 * app needs no code in the primary.
 *
 * Each worker is counted at its last known values: what it answered at a scrape, pushed as its counters changed, or
 * reported as its drain ended. A worker that does not answer a scrape (busy, dying, slow) stays in the sum at those
 * values. When it leaves (drained, crashed, killed), its counters and histograms move into one carried set, summed
 * over every worker that left, so the sum never goes down: a rolling restart replaces every worker, and a SIGKILL
 * gives no final word. A report that arrives after that (IPC read after the exit) adds only what it counted beyond
 * what was carried: the larger of last known and final. Gauges are not carried: a gone worker's gauge is gone.
 * `zdt upgrade` hands the sum to the new supervisor, which carries the old one on as one more source (adopt()).
 */
import type { AppMetric } from '../../protocol.js';
import type { Family, Sample } from './exposition.js';

type Value = AppMetric['values'][number];

/** The old supervisor of a `zdt upgrade`, as a source of the sum in the new one. */
const PREDECESSOR = {};

/** One metric of one worker (or of the carried set): its description and its values by series. */
interface Series {
  metric: AppMetric;
  values: Map<string, Value>;
}

/** A worker's last known metrics, by name. */
type Known = Map<string, Series>;

function valueKey(value: Value): string {
  const labels = Object.entries(value.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${value.metricName ?? ''}|${JSON.stringify(labels)}`;
}

/** Only these only ever go up, and so may be carried past the worker that counted them. */
function carriable(metric: AppMetric): boolean {
  return (metric.type === 'counter' || metric.type === 'histogram') && (metric.aggregator ?? 'sum') === 'sum';
}

const COMBINE: Record<string, ((values: number[]) => number) | undefined> = {
  sum: (values) => values.reduce((total, value) => total + value, 0),
  first: (values) => values[0] ?? 0,
  min: (values) => Math.min(...values),
  max: (values) => Math.max(...values),
  average: (values) => values.reduce((total, value) => total + value, 0) / values.length,
};

function seriesOf(known: Known, metric: AppMetric): Series {
  let series = known.get(metric.name);
  if (!series) {
    series = { metric: { ...metric, values: [] }, values: new Map() };
    known.set(metric.name, series);
  }
  return series;
}

export class AppMetricsAggregator {
  /** Workers still counted by their own last known values (any state until they leave). */
  private readonly live = new Map<object, Known>();
  /** Workers that left: their carriable values as carried, only to take a late report's increase. Weak: bounded. */
  private readonly gone = new WeakMap<object, Known>();
  /** Per metric name: the counters and histograms of every worker that left, summed. */
  private readonly carried: Known = new Map();

  /** Set at an upgrade's handover: what this supervisor shows until it stops. */
  private frozen: Family[] | undefined;
  private held: { promise: Promise<void>; release: () => void } | undefined;

  /** `left`: told when a worker leaves the sum (a scrape waiting for its answer need not wait any longer). */
  constructor(private readonly left: (worker: object) => void = () => {}) {}

  /**
   * A worker's metrics as it reported them (all of them at a scrape or at its drain, the changed ones when pushed).
   * Counters and histograms keep the larger value per series (reports may cross: a push is newer than a scrape answer
   * computed meanwhile); gauges and the rest take the new values.
   */
  record(worker: object, metrics: readonly AppMetric[] | null | undefined): void {
    if (!metrics) return;
    const left = this.gone.get(worker);
    if (left) return this.recordLate(left, metrics);
    let known = this.live.get(worker);
    if (!known) {
      known = new Map();
      this.live.set(worker, known);
    }
    for (const metric of metrics) {
      const series = seriesOf(known, metric);
      series.metric = { ...metric, values: [] };
      const keep = carriable(metric);
      if (!keep) series.values.clear();
      for (const value of metric.values) {
        const key = valueKey(value);
        const previous = series.values.get(key);
        if (!keep || !previous || value.value > previous.value) series.values.set(key, value);
      }
    }
  }

  /** The worker leaves the sum: its counters and histograms, at their last known values, join the carried set. */
  retire(worker: object): void {
    if (this.gone.has(worker)) return;
    const known = this.live.get(worker) ?? new Map<string, Series>();
    this.live.delete(worker);
    for (const [name, series] of known) {
      if (!carriable(series.metric)) {
        known.delete(name);
        continue;
      }
      const carried = seriesOf(this.carried, series.metric);
      for (const [key, value] of series.values) {
        const previous = carried.values.get(key);
        carried.values.set(key, { ...value, value: (previous?.value ?? 0) + value.value });
      }
    }
    this.gone.set(worker, known);
    this.left(worker);
  }

  /** True while the worker is counted by its own values (it has not left). */
  isLive(worker: object): boolean {
    return !this.gone.has(worker);
  }

  /** A report from a worker that already left: the carried set takes what it counted beyond what was carried. */
  private recordLate(known: Known, metrics: readonly AppMetric[]): void {
    for (const metric of metrics) {
      if (!carriable(metric)) continue;
      const mine = seriesOf(known, metric);
      const carried = seriesOf(this.carried, metric);
      for (const value of metric.values) {
        const key = valueKey(value);
        const increase = value.value - (mine.values.get(key)?.value ?? 0);
        if (increase <= 0) continue;
        mine.values.set(key, value);
        const previous = carried.values.get(key);
        carried.values.set(key, { ...value, value: (previous?.value ?? 0) + increase });
      }
    }
  }

  /** Every series of the live workers' last known metrics and of the carried set, grouped by metric name. */
  private groups(): Map<string, { metric: AppMetric; values: Map<string, { value: Value; numbers: number[] }> }> {
    const byName = new Map<string, { metric: AppMetric; values: Map<string, { value: Value; numbers: number[] }> }>();
    const add = (known: Known) => {
      for (const { metric, values } of known.values()) {
        let group = byName.get(metric.name);
        if (!group) {
          group = { metric, values: new Map() };
          byName.set(metric.name, group);
        }
        for (const [key, value] of values) {
          const slot = group.values.get(key);
          if (slot) slot.numbers.push(value.value);
          else group.values.set(key, { value, numbers: [value.value] });
        }
      }
    };
    for (const known of this.live.values()) add(known);
    add(this.carried);
    return byName;
  }

  /** One family per metric name over the live workers' last known metrics and what was carried. */
  aggregate(): Family[] {
    if (this.frozen) return this.frozen;
    const families: Family[] = [];
    for (const { metric, values } of this.groups().values()) {
      const combine = COMBINE[metric.aggregator ?? 'sum'];
      // 'omit' (and anything unknown) is left out, as prom-client does.
      if (!combine) continue;
      const samples: Sample[] = [...values.values()].map(({ value, numbers }) => ({
        name: value.metricName ?? metric.name,
        labels: value.labels,
        value: combine(numbers),
      }));
      const type = (['counter', 'gauge', 'histogram', 'summary'] as const).find((known) => known === metric.type) ?? 'untyped';
      families.push({ name: metric.name, help: metric.help, type, samples });
    }
    return families;
  }

  /**
   * The counters and histograms summed (live and carried), as prom-client's JSON: what `zdt upgrade` hands to the
   * new supervisor, which carries it on as one more source (see adopt()).
   */
  summed(): AppMetric[] {
    const metrics: AppMetric[] = [];
    for (const { metric, values } of this.groups().values()) {
      if (!carriable(metric)) continue;
      const summed = [...values.values()].map(({ value, numbers }) => ({ ...value, value: COMBINE.sum!(numbers) }));
      metrics.push({ ...metric, values: summed });
    }
    return metrics;
  }

  /** Rendered from now on as the sum stands (the old supervisor of an upgrade): never more than what it hands over. */
  freeze(): AppMetric[] {
    this.frozen = this.aggregate();
    return this.summed();
  }

  /** The handover failed: the live sum again. */
  thaw(): void {
    this.frozen = undefined;
  }

  /**
   * The old supervisor's sum, in a new one (`zdt upgrade`): counted as one more worker that leaves when the old one
   * says its last (`final`), or goes away; so the sum goes on from the old one's and never below it.
   */
  adopt(metrics: readonly AppMetric[] | undefined, final: boolean): void {
    this.record(PREDECESSOR, metrics);
    if (final) this.retire(PREDECESSOR);
  }

  /** A new supervisor of `zdt upgrade` holds its scrapes until it has the old one's sum (or the old one is gone). */
  hold(): void {
    let release = () => {};
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.held = { promise, release };
  }

  release(): void {
    this.held?.release();
    this.held = undefined;
  }

  /** Resolves when scrapes may be answered. */
  served(): Promise<void> {
    return this.held?.promise ?? Promise.resolve();
  }
}

