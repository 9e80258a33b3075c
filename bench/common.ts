// Shared bench plumbing: machine facts, a tinybench timer, JSON results with settings.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bench } from 'tinybench';

import { engineInfo } from '../src/native.js';

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
    engine: engineInfo(),
  };
}

/** Median wall time of fn in milliseconds (tinybench, warm-up included). */
export async function timeMs(
  name: string,
  fn: () => void | Promise<void>,
  o: { iterations?: number; time?: number } = {},
): Promise<number> {
  const bench = new Bench({ iterations: o.iterations ?? 3, time: o.time ?? 500, warmupIterations: 1, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result;
  if (!r || !('latency' in r)) throw new Error(`bench ${name}: no result (${r ? r.state : 'none'})`);
  return r.latency.p50 ?? r.latency.mean;
}

export function flagValue(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
export const hasFlag = (name: string): boolean => process.argv.includes(`--${name}`);

/** Writes bench/results/<file> atomically and returns the path. */
/** Writes bench/results/<file> (or into $BIOFEG_BENCH_RESULTS, e.g. for smoke runs in tests). */
export function writeResult(file: string, data: unknown): string {
  const dir = process.env.BIOFEG_BENCH_RESULTS || join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(data, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

export function table(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? ''));
  const w = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(w[i]!)).join('  ');
  return [line(keys), line(w.map((n) => '-'.repeat(n))), ...rows.map((r) => line(keys.map((k) => cell(r[k]))))].join('\n');
}

/**
 * Lets host-side setup copies go before a measured phase (children run with --expose-gc; array
 * buffers are freed by a sweeper task after the collection, hence the tick).
 */
export async function releaseHost(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
}
