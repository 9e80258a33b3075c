// log.jsonl as a report reads it: whatever lines parse, in order. A run killed mid-write leaves a
// cut-off last line and a NaN-stopped one logs "NaN" strings (src/train/jsonl-log.ts): neither
// stops the report, both are said in `problems`.
import { existsSync, readFileSync } from 'node:fs';

export type LogRecord = Record<string, unknown> & { event: string; time: string | null };

export interface ParsedLog {
  records: LogRecord[];
  problems: string[];
}

export function readLog(path: string): ParsedLog | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').split('\n');
  const records: LogRecord[] = [];
  const problems: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      const last = lines.slice(i + 1).every((l) => l.trim() === '');
      problems.push(`log.jsonl line ${i + 1} ${last ? 'is cut off (the run stopped while writing it)' : 'is not JSON'}; skipped`);
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as { event?: unknown }).event !== 'string') {
      problems.push(`log.jsonl line ${i + 1} has no "event"; skipped`);
      return;
    }
    const r = v as Record<string, unknown>;
    records.push({ ...r, event: r['event'] as string, time: typeof r['time'] === 'string' ? r['time'] : null });
  });
  return { records, problems };
}

/** A logged number: finite numbers as they are; "NaN"/"Infinity" strings and anything else as null. */
export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** True when a field holds a non-finite number as the logger writes it ("NaN", "Infinity", "-Infinity"). */
export function isNonFinite(v: unknown): boolean {
  return v === 'NaN' || v === 'Infinity' || v === '-Infinity';
}

/** Seconds from the first to the last timestamped line, or null. */
export function loggedSeconds(records: readonly LogRecord[]): number | null {
  // A loop, not Math.max(...times): a long run's log has more lines than a call takes arguments.
  let lo = Infinity,
    hi = -Infinity,
    n = 0;
  for (const r of records) {
    const t = r.time ? Date.parse(r.time) : Number.NaN;
    if (!Number.isFinite(t)) continue;
    n++;
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  if (n < 2) return null;
  return (hi - lo) / 1000;
}
