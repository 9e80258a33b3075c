// JSON-lines log in the output folder (one object per line, appended and flushed per event, so
// a crash loses at most the line being written). The original wrote free text to log.txt.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_FILE_NAME = 'log.jsonl';

export type LogValue = string | number | boolean | null | LogValue[] | { [key: string]: LogValue };
export type LogFields = Record<string, LogValue | undefined>;

export class JsonlLogger {
  readonly path: string;
  private fd: number | null;
  private readonly now: () => Date;

  /** Opens (creating the folder and the file if needed) `<outputDir>/<fileName>` for appending. */
  constructor(outputDir: string, opts: { fileName?: string; now?: () => Date } = {}) {
    mkdirSync(outputDir, { recursive: true });
    this.path = join(outputDir, opts.fileName ?? LOG_FILE_NAME);
    this.fd = openSync(this.path, 'a');
    this.now = opts.now ?? (() => new Date());
  }

  /** Append `{"time": ISO, "event": event, ...fields}`; non-finite numbers are written as strings ("NaN", "Infinity"). */
  log(event: string, fields: LogFields = {}): void {
    if (this.fd === null) throw new Error(`log ${this.path} is closed`);
    const line = JSON.stringify({ time: this.now().toISOString(), event, ...fields }, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    );
    const buf = Buffer.from(line + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
