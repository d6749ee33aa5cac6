import type { Registry } from 'prom-client';

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A histogram over one label, for the observations made on every ext_proc message
 * (phase latency, store latency): an observation is a bucket search and three
 * additions. It exports what prom-client's Histogram exports for the same
 * observations (the same text, line for line), through the registry's metric
 * interface; prom-client's own validates and hashes the labels on every call,
 * which costs more than the work it times.
 */
export class CountingHistogram<Label extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly config: {
      readonly name: string;
      readonly help: string;
      readonly labelName: Label;
      readonly buckets: readonly number[];
      readonly registers: readonly Registry[];
    },
  ) {
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  get name(): string {
    return this.config.name;
  }

  get help(): string {
    return this.config.help;
  }

  private seriesOf(value: string): Series {
    let series = this.series.get(value);
    if (series === undefined) {
      series = { labels: { [this.config.labelName]: value }, counts: new Float64Array(this.config.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(value, series);
    }
    return series;
  }

  observe(labels: Readonly<Record<Label, string>>, seconds: number): void {
    this.add(this.seriesOf(labels[this.config.labelName]), seconds);
  }

  /** Starts timing; the returned function observes the seconds since. */
  startTimer(labels: Readonly<Record<Label, string>>): () => void {
    const series = this.seriesOf(labels[this.config.labelName]);
    const started = performance.now();
    return () => this.add(series, (performance.now() - started) / 1000);
  }

  private add(series: Series, seconds: number): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const buckets = this.config.buckets;
    let index = 0;
    while (index < buckets.length && seconds > buckets[index]!) index++;
    series.counts[index]! += 1;
    series.sum += seconds;
    series.count += 1;
  }

  reset(): void {
    this.series.clear();
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> }> {
    const exported = this.exported();
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: exported.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...labels, ...sharedLabels }, value, metricName })),
    };
  }

  /** As prom-client's Histogram gives the registry: `le` as the value's own label, the series' labels shared. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.exported() };
  }

  private exported(): ExportedValue[] {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.config.buckets.forEach((bound, index) => {
        cumulative += series.counts[index]!;
        values.push({ labels: { le: bound }, sharedLabels: series.labels, value: cumulative, metricName: bucketName });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: series.labels, value: series.count, metricName: bucketName },
        { labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return values;
  }
}
