/**
 * The app's own prom-client metrics, summed over the workers the way prom-client's AggregatorRegistry does (each
 * metric's `aggregator`: sum by default, or first, min, max, average, omit), over the supervisor's protocol, so an
 * app needs no code in the primary. Counters and histograms of workers that exited are carried on: a rolling restart
 * replaces every worker, and without this every counter would fall back to zero.
 */
import type { AppMetric } from '../protocol.js';
import type { Family, Sample } from './exposition.js';

type Value = AppMetric['values'][number];

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

export class AppMetricsAggregator {
  /** Per metric name: its description and the values left by workers that are gone. */
  private readonly carried = new Map<string, { metric: AppMetric; values: Map<string, Value> }>();

  /** A worker's last metrics, as it leaves: its counters and histograms are kept. */
  retire(final: readonly AppMetric[] | null | undefined): void {
    for (const metric of final ?? []) {
      if (!carriable(metric)) continue;
      let entry = this.carried.get(metric.name);
      if (!entry) {
        entry = { metric: { ...metric, values: [] }, values: new Map() };
        this.carried.set(metric.name, entry);
      }
      for (const value of metric.values) {
        const key = valueKey(value);
        const previous = entry.values.get(key);
        entry.values.set(key, { ...value, value: (previous?.value ?? 0) + value.value });
      }
    }
  }

  /** One family per metric name over the live workers' metrics and what was carried. */
  aggregate(live: ReadonlyArray<readonly AppMetric[]>): Family[] {
    const byName = new Map<string, { metric: AppMetric; values: Map<string, { value: Value; numbers: number[] }> }>();
    const add = (metric: AppMetric, value: Value) => {
      let group = byName.get(metric.name);
      if (!group) {
        group = { metric, values: new Map() };
        byName.set(metric.name, group);
      }
      const key = valueKey(value);
      const slot = group.values.get(key);
      if (slot) slot.numbers.push(value.value);
      else group.values.set(key, { value, numbers: [value.value] });
    };
    for (const metrics of live) for (const metric of metrics) for (const value of metric.values) add(metric, value);
    for (const { metric, values } of this.carried.values()) {
      if (!byName.has(metric.name)) byName.set(metric.name, { metric, values: new Map() });
      for (const value of values.values()) add(metric, value);
    }
    const families: Family[] = [];
    for (const { metric, values } of byName.values()) {
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
}
