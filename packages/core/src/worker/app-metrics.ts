/**
 * The app's own prom-client metrics, read for the supervisor, which sums them over the workers and serves them on
 * its metrics endpoint (what prom-client's AggregatorRegistry does, without code in the primary). Only a prom-client
 * the app has already loaded is read: resolved from the app's entry, looked up in the module cache, never loaded
 * here (loading it would create an empty registry and cost the app memory for nothing).
 *
 * When the supervisor serves metrics, the worker also pushes its counters and histograms as they change, so that the
 * supervisor's last known values are current when a worker dies without a word (SIGKILL, the OOM killer): a scrape
 * alone would lose everything counted since the previous scrape. A change is pushed before the next bytes the worker
 * writes to any socket (so a request counted before its answer is written is in the sum before the client has the
 * answer), else at the end of the event-loop turn: one message per answer at most, with the changed series only.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import type { AppMetric } from '../protocol.js';

/**
 * A prom-client metric as the watch uses it: `hashMap` is prom-client's own store of a metric's series (v12 on), by
 * label set: `{ labels, value }` for a counter, `{ labels, bucketValues, sum, count }` for a histogram.
 */
interface PromMetric {
  name: string;
  help: string;
  type?: string;
  aggregator?: string;
  collect?: unknown;
  upperBounds?: number[];
  hashMap?: Record<string, { labels?: Record<string, string | number>; value?: number; bucketValues?: Record<string, number>; sum?: number; count?: number }>;
}

interface PromRegistry {
  getMetricsAsJSON(): AppMetric[] | Promise<AppMetric[]>;
  getMetricsAsArray?(): PromMetric[];
  _defaultLabels?: Record<string, string | number>;
}

function loadedPromClient(): PromRegistry | undefined {
  const entry = process.argv[1];
  if (!entry) return undefined;
  try {
    const requireFromApp = createRequire(path.resolve(entry));
    const resolved = requireFromApp.resolve('prom-client');
    if (!requireFromApp.cache[resolved]) return undefined;
    const promClient = requireFromApp(resolved) as { register?: PromRegistry };
    return typeof promClient.register?.getMetricsAsJSON === 'function' ? promClient.register : undefined;
  } catch {
    return undefined;
  }
}

/** True while this module reads the app's metrics itself: those reads change nothing and push nothing. */
let reading = false;

/** The app's metrics as prom-client's JSON, or null when the app does not use prom-client. */
export async function readAppMetrics(): Promise<AppMetric[] | null> {
  const registry = loadedPromClient();
  if (!registry) return null;
  try {
    reading = true;
    const metrics = registry.getMetricsAsJSON();
    reading = false;
    return await metrics;
  } catch {
    return null;
  } finally {
    reading = false;
  }
}

/** Every series of a metric, rather than the ones named. */
const ALL_SERIES = Symbol('all series');

/**
 * prom-client's JSON for series of one watched metric (by their key in its store, or all of them), read at once from
 * the store (`get()` would answer a turn later).
 */
function readNow(metric: PromMetric, keys: Set<string> | typeof ALL_SERIES, defaults: Record<string, string | number>): AppMetric {
  const values: AppMetric['values'] = [];
  const store = metric.hashMap ?? {};
  const entries = keys === ALL_SERIES ? Object.values(store) : [...keys].flatMap((key) => store[key] ?? []);
  for (const entry of entries) {
    const labels = { ...defaults, ...entry.labels };
    if (metric.type === 'counter') {
      values.push({ labels, value: entry.value ?? 0 });
      continue;
    }
    let cumulative = 0;
    for (const bound of metric.upperBounds ?? []) {
      cumulative += entry.bucketValues?.[bound] ?? 0;
      values.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: `${metric.name}_bucket` });
    }
    values.push(
      { labels: { ...labels, le: '+Inf' }, value: entry.count ?? 0, metricName: `${metric.name}_bucket` },
      { labels, value: entry.sum ?? 0, metricName: `${metric.name}_sum` },
      { labels, value: entry.count ?? 0, metricName: `${metric.name}_count` },
    );
  }
  return { name: metric.name, help: metric.help, type: metric.type ?? 'untyped', aggregator: metric.aggregator ?? 'sum', values };
}

type SocketWrite = (this: net.Socket, ...args: unknown[]) => void;

/**
 * Pushes the app's changed counters and histograms. A metric is watched through its `hashMap`: every inc() and
 * observe() of prom-client looks its series up there, whatever path it came by (labels(), startTimer(), a child), so
 * a look-up marks that series changed. The changed series are sent, as they stand, before the worker next writes to
 * a socket (`_write`/`_writev` of net.Socket, which HTTP/1 and TLS answers go through), or at the end of the turn
 * (process.nextTick) when nothing is written. Metrics with a `collect` function are left to the scrapes (their values
 * are computed then), and so is a prom-client without `hashMap`: the watch loses precision there, never correctness.
 */
export class AppMetricsPush {
  private readonly watched = new WeakSet<object>();
  /** Per metric, the keys of its series changed since the last push. */
  private readonly changed = new Map<PromMetric, Set<string> | typeof ALL_SERIES>();
  private scheduled = false;
  private registry: PromRegistry | undefined;
  private readonly originals: { write: SocketWrite; writev: SocketWrite | undefined };

  constructor(private readonly send: (metrics: AppMetric[]) => void) {
    const prototype = net.Socket.prototype as unknown as { _write: SocketWrite; _writev?: SocketWrite };
    this.originals = { write: prototype._write, writev: prototype._writev };
    const push = this;
    const { write, writev } = this.originals;
    prototype._write = function (this: net.Socket, ...args: unknown[]) {
      if (push.changed.size > 0) push.flush();
      write.apply(this, args);
    };
    if (writev) {
      prototype._writev = function (this: net.Socket, ...args: unknown[]) {
        if (push.changed.size > 0) push.flush();
        writev.apply(this, args);
      };
    }
  }

  /** Puts net.Socket's writes back as they were. */
  uninstall(): void {
    const prototype = net.Socket.prototype as unknown as { _write: SocketWrite; _writev?: SocketWrite };
    prototype._write = this.originals.write;
    if (this.originals.writev) prototype._writev = this.originals.writev;
  }

  /** Watches every metric the app has registered so far; cheap to call again (at each heartbeat, each scrape). */
  watchNew(): void {
    const registry = loadedPromClient();
    if (!registry || typeof registry.getMetricsAsArray !== 'function') return;
    this.registry = registry;
    for (const metric of registry.getMetricsAsArray()) {
      if (this.watched.has(metric)) continue;
      this.watched.add(metric);
      const pushed = (metric.type === 'counter' || metric.type === 'histogram') && (metric.aggregator ?? 'sum') === 'sum';
      if (pushed && metric.collect === undefined && typeof metric.hashMap === 'object' && metric.hashMap !== null) this.watch(metric);
    }
  }

  private watch(metric: PromMetric): void {
    const touched = (key: string | symbol | typeof ALL_SERIES) => {
      if (typeof key !== 'symbol' || key === ALL_SERIES) this.touched(metric, key as string | typeof ALL_SERIES);
    };
    const handler: ProxyHandler<object> = {
      get: (target, key, receiver) => {
        touched(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      set: (target, key, value, receiver) => {
        touched(key);
        return Reflect.set(target, key, value, receiver);
      },
      deleteProperty: (target, key) => {
        touched(key);
        return Reflect.deleteProperty(target, key);
      },
    };
    let store = new Proxy(metric.hashMap!, handler) as PromMetric['hashMap'];
    Object.defineProperty(metric, 'hashMap', {
      configurable: true,
      enumerable: true,
      get: () => store,
      // reset() gives the metric a new store.
      set: (next: object) => {
        store = new Proxy(next, handler) as PromMetric['hashMap'];
        touched(ALL_SERIES);
      },
    });
    // What it counted before the watch began goes with the next push.
    touched(ALL_SERIES);
  }

  private touched(metric: PromMetric, key: string | typeof ALL_SERIES): void {
    if (reading) return;
    const keys = this.changed.get(metric);
    if (key === ALL_SERIES) this.changed.set(metric, ALL_SERIES);
    else if (keys === undefined) this.changed.set(metric, new Set([key]));
    else if (keys !== ALL_SERIES) keys.add(key);
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      if (this.changed.size > 0) this.flush();
    });
  }

  private flush(): void {
    const defaults = this.registry?._defaultLabels ?? {};
    const metrics: AppMetric[] = [];
    reading = true;
    try {
      for (const [metric, keys] of this.changed) metrics.push(readNow(metric, keys, defaults));
    } catch {
      // A prom-client whose store has another shape: the scrapes still read it.
    } finally {
      this.changed.clear();
      reading = false;
    }
    if (metrics.length > 0) this.send(metrics);
  }
}
