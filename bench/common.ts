// Shared bench plumbing: machine facts, a tinybench timer, JSON results with settings.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bench } from 'tinybench';

import { engineInfo } from '../src/native.js';

/** The CPU flags that pick kernels and peers' code paths (vector width, bf16 and int8 dot products, AMX). */
const KERNEL_FLAGS = [
  'avx2',
  'fma',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512_vnni',
  'avx512_bf16',
  'avx512_fp16',
  'amx_tile',
  'amx_bf16',
];

export interface CpuId {
  vendor: string;
  family: number;
  model: number;
  /** A short name for result files: zen2..zen5 on AMD, else the model name as a slug. */
  tag: string;
  flags: string[];
}

/** /proc/cpuinfo's first processor (virtual machines often hide the model name, so family and flags decide the tag). */
export function cpuId(): CpuId {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')[0] ?? '';
  } catch {
    // Not Linux: the model name from os.cpus() is all there is.
  }
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
  const vendor = field('vendor_id');
  const family = Number(field('cpu family') || Number.NaN);
  const model = Number(field('model') || Number.NaN);
  const all = new Set(field('flags').split(/\s+/));
  const flags = KERNEL_FLAGS.filter((f) => all.has(f));
  const slug = (os.cpus()[0]?.model ?? 'unknown')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  let tag = slug;
  if (vendor === 'AuthenticAMD') {
    // Family 25 (0x19) holds Zen 3 and Zen 4; only Zen 4 has AVX-512.
    if (family === 26) tag = 'zen5';
    else if (family === 25) tag = all.has('avx512f') ? 'zen4' : 'zen3';
    else if (family === 23) tag = model >= 0x30 ? 'zen2' : 'zen1';
  }
  return { vendor, family, model, tag, flags };
}

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cpuId: cpuId(),
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

/** Writes bench/results/<file> (or into $BIOFEG_BENCH_RESULTS, e.g. for smoke runs in tests) atomically; returns the path. */
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
