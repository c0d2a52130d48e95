/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: core has no dependencies, and the tests
 * read what this writes with a real parser.
 */
export type Labels = Record<string, string | number>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(String(value))}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export interface Sample {
  /** Defaults to the family's name; histograms use `_bucket`, `_sum`, `_count`. */
  name?: string;
  labels?: Labels;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

export function render(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${sample.name ?? family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A histogram with fixed buckets (upper bounds in seconds), split by one set of labels. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = JSON.stringify(labels);
    let series = this.series.get(key);
    if (!series) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    this.buckets.forEach((bound, index) => {
      if (value <= bound) series.counts[index]! += 1;
    });
    series.sum += value;
    series.count += 1;
  }

  family(): Family {
    const samples: Sample[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, index) => samples.push({ name: `${this.name}_bucket`, labels: { ...labels, le: bound }, value: counts[index]! }));
      samples.push({ name: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      samples.push({ name: `${this.name}_sum`, labels, value: sum }, { name: `${this.name}_count`, labels, value: count });
    }
    return { name: this.name, help: this.help, type: 'histogram', samples };
  }

  /** Count and sum per label set, for `zdt status --json`. */
  snapshot(): Array<{ labels: Labels; count: number; sum: number }> {
    return [...this.series.values()].map(({ labels, count, sum }) => ({ labels, count, sum }));
  }
}

/** Counters keyed by one set of labels. */
export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = JSON.stringify(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  family(): Family {
    return { name: this.name, help: this.help, type: 'counter', samples: [...this.values.values()].map(({ labels, value }) => ({ labels, value })) };
  }

  snapshot(): Array<{ labels: Labels; value: number }> {
    return [...this.values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}
