// Histograms and counters for hot paths (every request, every store call). prom-client's own cost about
// a microsecond per observation (the labels hashed into a string, bucket bounds turned into property
// names, a closure per call); these cost tens of nanoseconds: each label combination is a series
// object the caller looks up once and keeps, and the values are read only when /metrics is scraped.
// They sit in the prom-client Registry like its own metrics (get() answers prom-client's metric shape,
// reset() zeroes), so the exposition, default metrics and gauges stay prom-client's.
import type { Metric, Registry } from 'prom-client';

export interface HistogramSeries {
  /** Records one observation (seconds, bytes, ...). */
  observe(value: number): void;
}

export interface CounterSeries {
  inc(value?: number): void;
}

interface MetricSpec {
  name: string;
  help: string;
  labelNames: readonly string[];
}

type Labels = Record<string, string | number>;
interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  if (values.length !== names.length) {
    throw new Error(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
  }
  const labels: Record<string, string> = {};
  names.forEach((name, i) => (labels[name] = values[i] as string));
  return labels;
}

/** One metric's series by label values; registered in `registry` under spec.name. */
abstract class SeriesMetric<S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'histogram' | 'counter';
  readonly aggregator = 'sum';
  protected readonly all = new Map<string, { labels: Record<string, string>; series: S }>();

  constructor(
    registry: Registry,
    private readonly spec: MetricSpec,
  ) {
    this.name = spec.name;
    this.help = spec.help;
    registry.registerMetric(this as unknown as Metric);
  }

  protected abstract create(): S;

  /** The series for these label values, in labelNames order; keep it rather than asking again. */
  series(...values: string[]): S {
    const key = values.join('\u0000');
    let found = this.all.get(key);
    if (!found) {
      found = { labels: labelsOf(this.spec.labelNames, values), series: this.create() };
      this.all.set(key, found);
    }
    return found.series;
  }

  abstract get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: string;
  }>;
  abstract reset(): void;
}

class Histogram implements HistogramSeries {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    (this.counts[i] as number) += 1;
    this.sum += value;
    this.count += 1;
  }
}

export class FastHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: Float64Array;

  constructor(registry: Registry, spec: MetricSpec & { buckets: readonly number[] }) {
    super(registry, spec);
    this.bounds = Float64Array.from([...spec.buckets].sort((a, b) => a - b));
  }

  protected create(): HistogramSeries {
    return new Histogram(this.bounds);
  }

  async get() {
    const values: MetricValue[] = [];
    for (const { labels, series } of this.all.values()) {
      const histogram = series as Histogram;
      let cumulative = 0;
      histogram.counts.forEach((count, i) => {
        cumulative += count;
        const le = i < this.bounds.length ? (this.bounds[i] as number) : '+Inf';
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels, value: histogram.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: histogram.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const { series } of this.all.values()) {
      const histogram = series as Histogram;
      histogram.counts.fill(0);
      histogram.sum = 0;
      histogram.count = 0;
    }
  }
}

class Counter implements CounterSeries {
  value = 0;

  inc(value = 1): void {
    if (value > 0) this.value += value;
  }
}

export class FastCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(): CounterSeries {
    return new Counter();
  }

  async get() {
    const values = [...this.all.values()].map(({ labels, series }) => ({
      labels,
      value: (series as Counter).value,
    }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const { series } of this.all.values()) (series as Counter).value = 0;
  }
}
