// Progress on stderr: a cli-progress bar with rate and ETA on a terminal; when stderr is not a
// terminal (logs, CI) one plain line every N percent; nothing with --silent.
import cliProgress from 'cli-progress';

/** What the progress needs of a stream (process.stderr, or a fake in tests). */
export interface ProgressStream {
  write(s: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** --silent: print nothing. */
  silent?: boolean;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Without a terminal: print a line each time this many percent more are done (default 10). */
  everyPercent?: number;
  /** Unit shown in the rate (default "it"). */
  unit?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export interface Progress {
  /** Advance by `n` (default 1). */
  tick(n?: number): void;
  /** Set the absolute count. */
  update(value: number): void;
  /** Finish: a final line (non-terminal) or the bar's last render. */
  stop(): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

/** One status line: `label: 30% (300/1000) 12.5 it/s ETA 56s`. */
export function progressLine(label: string, value: number, total: number, elapsedMs: number, unit = 'it'): string {
  const rate = elapsedMs > 0 ? (value * 1000) / elapsedMs : 0;
  const pct = total > 0 ? Math.floor((100 * value) / total) : 100;
  const eta = rate > 0 && total > 0 ? Math.max(0, total - value) / rate : NaN;
  const tail = value >= total && total > 0 ? `in ${formatSeconds(elapsedMs / 1000)}` : `ETA ${formatSeconds(eta)}`;
  return `${label}: ${pct}% (${value}/${total}) ${formatRate(rate)} ${unit}/s ${tail}`;
}

class Silent implements Progress {
  tick(): void {}
  update(): void {}
  stop(): void {}
}

class Lines implements Progress {
  private value = 0;
  private nextPct: number;
  private readonly start: number;
  private stopped = false;
  constructor(
    private readonly o: Required<Pick<ProgressOptions, 'label' | 'total' | 'everyPercent' | 'unit' | 'now'>> & { stream: ProgressStream },
  ) {
    this.start = o.now();
    this.nextPct = o.everyPercent;
  }
  tick(n = 1): void {
    this.update(this.value + n);
  }
  update(v: number): void {
    this.value = v;
    if (this.o.total <= 0) return;
    const pct = (100 * v) / this.o.total;
    if (pct < this.nextPct) return;
    while (this.nextPct <= pct) this.nextPct += this.o.everyPercent;
    this.print();
  }
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // The final line, unless the last update already printed 100%.
    if (this.o.total <= 0 || this.value < this.o.total || this.nextPct <= 100) this.print();
  }
  private print(): void {
    this.o.stream.write(progressLine(this.o.label, this.value, this.o.total, this.o.now() - this.start, this.o.unit) + '\n');
  }
}

class Bar implements Progress {
  private value = 0;
  private readonly bar: cliProgress.SingleBar;
  private readonly start: number;
  constructor(private readonly o: Required<Pick<ProgressOptions, 'label' | 'total' | 'unit' | 'now'>> & { stream: ProgressStream }) {
    this.start = o.now();
    this.bar = new cliProgress.SingleBar(
      {
        format: `${o.label} |{bar}| {percentage}% {value}/{total} | {rate} ${o.unit}/s | ETA {eta_formatted}`,
        stream: o.stream as NodeJS.WritableStream,
        hideCursor: true,
        gracefulExit: false, // SIGINT belongs to the training loop's interrupt flag
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(o.total, 0, { rate: '0' });
  }
  tick(n = 1): void {
    this.update(this.value + n);
  }
  update(v: number): void {
    this.value = v;
    const ms = this.o.now() - this.start;
    this.bar.update(v, { rate: formatRate(ms > 0 ? (v * 1000) / ms : 0) });
  }
  stop(): void {
    this.bar.stop();
  }
}

/** A progress display for `total` items, chosen by --silent and whether the stream is a terminal. */
export function createProgress(opts: ProgressOptions): Progress {
  if (opts.silent) return new Silent();
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? (() => Date.now());
  const unit = opts.unit ?? 'it';
  if (stream.isTTY === true) return new Bar({ label: opts.label, total: opts.total, unit, now, stream });
  const everyPercent = opts.everyPercent ?? 10;
  if (!(everyPercent > 0)) throw new Error(`everyPercent must be > 0, got ${everyPercent}`);
  return new Lines({ label: opts.label, total: opts.total, everyPercent, unit, now, stream });
}
