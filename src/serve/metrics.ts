// Prometheus text exposition (format 0.0.4) for the service's few series, written here rather than
// pulled in as a dependency: counters, gauges and fixed-bucket histograms with label sets bounded by
// the server (route and status), which is all `GET /metrics` needs.

/** Label values are escaped as the exposition format requires (backslash, quote, newline). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

interface Series {
  write(out: string[]): void;
}

/** A monotonically increasing count per label set. */
export class Counter implements Series {
  private readonly values = new Map<string, { labels: Record<string, string>; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Record<string, string> = {}, by = 1): void {
    const key = labelText(labels);
    const s = this.values.get(key);
    if (s) s.value += by;
    else this.values.set(key, { labels, value: by });
  }
  get(labels: Record<string, string> = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  write(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const s of this.values.values()) out.push(`${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

/** A value read when scraped (queue depth, in-flight work). */
export class Gauge implements Series {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
    private readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}
  write(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, `${this.name} ${num(this.read())}`);
  }
}

/** Cumulative buckets per label set, with _sum and _count, as Prometheus histograms are written. */
export class Histogram implements Series {
  private readonly values = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();
  readonly buckets: readonly number[];
  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Record<string, string> = {}): void {
    const key = labelText(labels);
    let s = this.values.get(key);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.values.set(key, s);
    }
    // Stored per bucket, made cumulative when written.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  count(labels: Record<string, string> = {}): number {
    return this.values.get(labelText(labels))?.count ?? 0;
  }
  write(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.values.values()) {
      let acc = 0;
      this.buckets.forEach((b, i) => {
        acc += s.counts[i]!;
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${acc}`);
      });
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
}

/** The series of one server, written in registration order. */
export class Registry {
  private readonly series: Series[] = [];
  add<T extends Series>(s: T): T {
    this.series.push(s);
    return s;
  }
  /** The exposition text (ends with a newline, as the format requires). */
  text(): string {
    const out: string[] = [];
    for (const s of this.series) s.write(out);
    return `${out.join('\n')}\n`;
  }
}

/** The Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
