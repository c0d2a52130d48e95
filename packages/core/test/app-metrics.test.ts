// The sum of the app's prom-client metrics over the workers (primary/metrics/app-metrics.ts), fed by hand: workers that miss
// a scrape, leave, report late or report out of order. The end-to-end proof with real workers, real prom-client and
// SIGKILLs is test/metrics.e2e.test.ts.
import { describe, expect, it } from 'vitest';
import { AppMetricsAggregator } from '../src/primary/metrics/app-metrics.js';
import type { AppMetric } from '../src/protocol.js';

const counter = (value: number, route = 'ping'): AppMetric => ({ name: 'requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value, labels: { route } }] });
const gauge = (value: number): AppMetric => ({ name: 'in_flight', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ value, labels: {} }] });
const histogram = (count: number, sum: number): AppMetric => ({
  name: 'latency_seconds',
  help: 'h',
  type: 'histogram',
  values: [
    { value: count, labels: { le: 0.1 }, metricName: 'latency_seconds_bucket' },
    { value: count, labels: { le: '+Inf' }, metricName: 'latency_seconds_bucket' },
    { value: sum, labels: {}, metricName: 'latency_seconds_sum' },
    { value: count, labels: {}, metricName: 'latency_seconds_count' },
  ],
});

function read(aggregator: AppMetricsAggregator, name: string, sample = name): number | undefined {
  const family = aggregator.aggregate().find((candidate) => candidate.name === name);
  const found = family?.samples.filter((candidate) => (candidate.name ?? name) === sample);
  return found && found.length > 0 ? found.reduce((total, candidate) => total + candidate.value, 0) : undefined;
}

describe('the app metrics summed over the workers', () => {
  it('counts a worker that misses a scrape at its last known values, gauges included', () => {
    const aggregator = new AppMetricsAggregator();
    const [a, b] = [{}, {}];
    aggregator.record(a, [counter(10), gauge(2)]);
    aggregator.record(b, [counter(5), gauge(1)]);
    expect(read(aggregator, 'requests_total')).toBe(15);
    // The next scrape: only b answers.
    aggregator.record(b, [counter(7), gauge(0)]);
    expect(read(aggregator, 'requests_total')).toBe(17);
    expect(read(aggregator, 'in_flight')).toBe(2);
  });

  it('carries a worker that leaves at the larger of its last known and final values; its gauge is gone', () => {
    const aggregator = new AppMetricsAggregator();
    const [a, b, c] = [{}, {}, {}];
    aggregator.record(a, [counter(10), gauge(3), histogram(4, 0.2)]);
    aggregator.record(b, [counter(1), gauge(1)]);
    aggregator.record(c, [counter(6)]);
    // a is SIGKILLed: no final word. b drains with a final report smaller than a crossed push (out of order).
    aggregator.retire(a);
    aggregator.record(b, [counter(0)]);
    aggregator.retire(b);
    expect(read(aggregator, 'requests_total')).toBe(17);
    expect(read(aggregator, 'latency_seconds', 'latency_seconds_count')).toBe(4);
    expect(read(aggregator, 'latency_seconds', 'latency_seconds_sum')).toBeCloseTo(0.2);
    expect(read(aggregator, 'in_flight')).toBeUndefined();
    // A report of a's read after its exit: only what it counted beyond what was carried is added, once.
    aggregator.record(a, [counter(12), histogram(5, 0.3)]);
    aggregator.record(a, [counter(11)]);
    expect(read(aggregator, 'requests_total')).toBe(19);
    expect(read(aggregator, 'latency_seconds', 'latency_seconds_count')).toBe(5);
    // Leaving twice (drained, then exited) carries once.
    aggregator.retire(a);
    expect(read(aggregator, 'requests_total')).toBe(19);
    expect(aggregator.isLive(a)).toBe(false);
    expect(aggregator.isLive(c)).toBe(true);
  });

  it('merges every worker that left into one series set', () => {
    const aggregator = new AppMetricsAggregator();
    for (let worker = 0; worker < 1_000; worker++) {
      const handle = {};
      aggregator.record(handle, [counter(1, worker % 2 === 0 ? 'ping' : 'echo')]);
      aggregator.retire(handle);
    }
    const family = aggregator.aggregate().find((candidate) => candidate.name === 'requests_total')!;
    expect(family.samples).toEqual([
      { name: 'requests_total', labels: { route: 'ping' }, value: 500 },
      { name: 'requests_total', labels: { route: 'echo' }, value: 500 },
    ]);
  });

  it('never carries what is not summed: a counter aggregated by max is the live workers only', () => {
    const aggregator = new AppMetricsAggregator();
    const [a, b] = [{}, {}];
    const maxCounter = (value: number): AppMetric => ({ ...counter(value), name: 'peak_total', aggregator: 'max' });
    aggregator.record(a, [maxCounter(9)]);
    aggregator.record(b, [maxCounter(4)]);
    expect(read(aggregator, 'peak_total')).toBe(9);
    aggregator.retire(a);
    expect(read(aggregator, 'peak_total')).toBe(4);
  });

  it('hands the sum over at an upgrade: the old one frozen at what it hands, the new one carrying it on', async () => {
    const old = new AppMetricsAggregator();
    const [a, b] = [{}, {}];
    old.record(a, [counter(10), gauge(1)]);
    old.record(b, [counter(5)]);
    old.retire(b);
    const handed = old.freeze();
    expect(handed).toEqual([{ ...counter(15), values: [{ value: 15, labels: { route: 'ping' } }] }]);
    // The old one's scrapes stay at what it handed, while its workers drain and count on.
    old.record(a, [counter(12)]);
    expect(read(old, 'requests_total')).toBe(15);
    old.retire(a);
    const final = old.summed();
    expect(final[0]!.values[0]!.value).toBe(17);

    const successor = new AppMetricsAggregator();
    successor.hold();
    let answered = false;
    const served = successor.served().then(() => (answered = true));
    const worker = {};
    successor.record(worker, [counter(3)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    successor.adopt(handed, false);
    successor.release();
    await served;
    expect(read(successor, 'requests_total')).toBe(18);
    successor.adopt(final, true);
    expect(read(successor, 'requests_total')).toBe(20);
    // The channel closes after the final word: nothing more, nothing less.
    successor.adopt(undefined, true);
    expect(read(successor, 'requests_total')).toBe(20);
  });
});

