// npm run bench:pool [-- --rows 3000000 --small-rows 300000 --dim 768 --queries 2048 --k 64
//   --encode 20000,80000 --encode-batch 128 --eval-batch 64 --threads N --dir DIR --keep --out FILE]
// Memory and speed of the entity pool (issue #5 item 8): the pool costs its bytes, loading and
// retrieval add O(block) working memory, never O(pool).
//   retrieval: a synthetic pool of --rows x --dim f32 is written in the on-disk cache format
//     (entity_embeddings.<hash>.f32, keyed by a tiny random bi-encoder with add_linear to --dim
//     and a synthetic entity token cache), then loaded by encodeEntityPool (a cache hit: the real
//     load path) and searched by retrieve() for --queries mentions (top --k), at --rows and at
//     --small-rows, and with a bf16 pool (reported as not supported where the build refuses it).
//   encoding: a tiny random BERT (hidden 128) encodes --encode N entities into a pool (written
//     to the disk cache as it goes) through encodeEntityPool.
// Every measurement runs in a child process of its own, so its peak RSS
// (process.resourceUsage().maxRSS) is its own; working memory = peak RSS - the child's peak before
// the phase (runtime, model, caches) - pool bytes. Pool values are normal draws: a 65,536-entry
// table of seeded Box-Muller draws indexed by a xorshift32 stream (fast enough for 2.3 G values).
// Prints a table, writes bench/results/pool-cpu.json.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { encodeHeader, TokenCache, type CacheHeader } from '../src/data/token-cache.js';
import {
  encodeEntityPool,
  encodePoolHeader,
  entityPoolHash,
  poolCachePath,
  poolDtypeSupported,
  type PoolDType,
} from '../src/eval/entity-pool.js';
import { retrieve } from '../src/eval/retrieve.js';
import { trimmedBatch } from '../src/eval/token-batch.js';
import { BiEncoder } from '../src/models/biencoder.js';
import { gaussian, initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { bytesInUse, setThreads } from '../src/native.js';
import { flagValue, hasFlag, machine, table, writeResult, releaseHost } from './common.js';

const settings = {
  rows: Number(flagValue('rows', '3000000')),
  smallRows: Number(flagValue('small-rows', '300000')),
  dim: Number(flagValue('dim', '768')),
  queries: Number(flagValue('queries', '2048')),
  k: Number(flagValue('k', '64')),
  encode: flagValue('encode', '20000,80000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0),
  encodeBatch: Number(flagValue('encode-batch', '128')),
  evalBatch: Number(flagValue('eval-batch', '64')),
  threads: Number(flagValue('threads', String(os.cpus().length))),
  vocab: 1000,
  entityWidth: 8,
  contextLength: 16,
  encodeWidth: 32,
};

const MiB = 2 ** 20;
const peakMiB = () => process.resourceUsage().maxRSS / 1024;
const rssMiB = () => process.memoryUsage().rss / MiB;
const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * A progress hook that notes when the first chunk landed (allocation, i.e. the first touch of the
 * pool's pages, is done by then) and the RSS at each quarter of the rows: flat when nothing grows
 * with the rows done beyond the pool itself.
 */
function progressProbe(t0: number): {
  hook: (done: number, total: number) => void;
  firstAt: () => number;
  rssAtQuarters: number[];
  buffersAtQuarters: number[];
} {
  let first = 0;
  let next = 1;
  const rssAtQuarters: number[] = [];
  const buffersAtQuarters: number[] = [];
  return {
    hook: (done, total) => {
      if (first === 0) first = performance.now();
      while (next <= 4 && done >= (total * next) / 4) {
        const m = process.memoryUsage();
        rssAtQuarters.push(r1(m.rss / MiB));
        buffersAtQuarters.push(r1(m.arrayBuffers / MiB));
        next++;
      }
    },
    firstAt: () => (first - t0) / 1000,
    rssAtQuarters,
    buffersAtQuarters,
  };
}

// --- synthetic inputs ---------------------------------------------------------------------------

/** Writes a token cache of `header.rows` rows, `row(i, out)` filling each (chunked writes). */
function writeTokenCache(path: string, header: CacheHeader, row: (i: number, out: Int32Array) => void): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, encodeHeader(header));
    const chunk = 65536;
    const buf = new Int32Array(chunk * header.width);
    for (let s = 0; s < header.rows; s += chunk) {
      const n = Math.min(chunk, header.rows - s);
      buf.fill(0);
      for (let i = 0; i < n; i++) row(s + i, buf.subarray(i * header.width, (i + 1) * header.width));
      writeSync(fd, new Uint8Array(buf.buffer, 0, n * header.width * 4));
    }
  } finally {
    closeSync(fd);
  }
}

const synthetic = (kind: 'mentions' | 'entities', rows: number, width: number, window: number): CacheHeader => ({
  kind,
  tokenizerHash: 'synthetic',
  maxContextLength: kind === 'mentions' ? window : 0,
  maxCandLength: kind === 'entities' ? window : 0,
  width,
  rows,
  source: { path: `synthetic-${kind}`, size: rows, mtimeMs: 0 },
  overflows: 0,
});

/** The tiny random bi-encoder of the retrieval runs: add_linear to `dim` (same seeds, same model). */
function retrievalModel(): BiEncoder {
  const m = new BiEncoder({ config: sizedConfig('tiny', settings.vocab, 64), device: 'cpu', addLinear: true, outDim: settings.dim });
  [m.context, m.candidate].forEach((enc, i) => {
    enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, 1 + i));
    enc.linear!.init(mulberry32(11 + i));
  });
  return m;
}

const retrievalDir = (dir: string, rows: number) => join(dir, `r${rows}`);

/** Entity and mention token caches, then the pool file under the model's key. */
function generate(dir: string, rows: number): Record<string, unknown> {
  const t0 = performance.now();
  const d = retrievalDir(dir, rows);
  mkdirSync(d, { recursive: true });
  const { vocab, entityWidth: ew, contextLength: cl, dim } = settings;
  writeTokenCache(join(d, 'entities.tokens'), synthetic('entities', rows, ew, ew), (i, out) => {
    out[0] = 1 + (i % (vocab - 1));
    out[1] = 1 + ((i * 7919) % (vocab - 1));
    out[2] = 2;
  });
  const r = mulberry32(5);
  writeTokenCache(join(d, 'mentions.tokens'), synthetic('mentions', settings.queries, cl + 1, cl), (i, out) => {
    const len = 4 + (i % (cl - 3));
    for (let j = 0; j < len; j++) out[j] = 1 + Math.floor(r() * (vocab - 1));
    out[cl] = (i * 1463) % rows; // gold label id
  });
  const model = retrievalModel();
  const ents = new TokenCache(join(d, 'entities.tokens'));
  const hash = entityPoolHash(model, ents);
  ents.close();
  const path = poolCachePath(d, hash);
  const draws = new Float32Array(65536);
  const g = gaussian(3);
  for (let i = 0; i < draws.length; i++) draws[i] = g();
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, encodePoolHeader({ format: 'biofeg-entity-embeddings', hash, rows, dim, dtype: 'f32' }));
    const chunkRows = 8192;
    const buf = new Float32Array(chunkRows * dim);
    let x = 0x9e3779b9 | 0;
    for (let s = 0; s < rows; s += chunkRows) {
      const n = Math.min(chunkRows, rows - s) * dim;
      for (let i = 0; i < n; i += 2) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        buf[i] = draws[x & 0xffff]!;
        buf[i + 1] = draws[x >>> 16]!;
      }
      writeSync(fd, new Uint8Array(buf.buffer, 0, n * 4));
    }
  } finally {
    closeSync(fd);
  }
  return {
    phase: `generate ${rows}`,
    seconds: r1((performance.now() - t0) / 1000),
    poolFileGiB: Number(((rows * dim * 4) / 2 ** 30).toFixed(2)),
  };
}

// --- measured phases (each in its own child) ----------------------------------------------------

async function retrievalPhase(dir: string, rows: number, dtype: PoolDType): Promise<Record<string, unknown>> {
  const d = retrievalDir(dir, rows);
  const model = retrievalModel();
  const ents = new TokenCache(join(d, 'entities.tokens'));
  const ments = new TokenCache(join(d, 'mentions.tokens'));
  const base = { phase: `retrieve ${dtype}`, rows, dim: settings.dim, dtype, queries: ments.rows, k: settings.k };
  try {
    if (!poolDtypeSupported('cpu', dtype)) return { ...base, supported: false, note: `${dtype} pool not supported on this build` };
    await releaseHost();
    const baseRssMiB = peakMiB();
    let t0 = performance.now();
    const probe = progressProbe(t0);
    const pool = await encodeEntityPool(model, ents, { batchSize: settings.encodeBatch, dtype, cacheDir: d, onProgress: probe.hook });
    const loadSeconds = (performance.now() - t0) / 1000;
    if (!pool.fromCache) throw new Error('the pool was encoded, not read from its cache file (key mismatch)');
    const poolMiB = pool.tensor.nbytes / MiB;
    const loadPeakMiB = peakMiB();
    const engineMiB = bytesInUse('cpu') / MiB;
    // The context encoder alone over the same batches (a warm-up pass, then a timed one), to split
    // retrieve's time into encoding and top-k.
    let encodeSeconds = 0;
    for (let pass = 0; pass < 2; pass++) {
      t0 = performance.now();
      for (let s = 0; s < ments.rows; s += settings.evalBatch) {
        const b = Math.min(settings.evalBatch, ments.rows - s);
        await model.encode('context', trimmedBatch(ments.readRange(s, b), b, ments.width, ments.width - 1), false);
      }
      encodeSeconds = (performance.now() - t0) / 1000;
    }
    t0 = performance.now();
    const res = await retrieve(model, ments, pool, { topK: settings.k, batchSize: settings.evalBatch });
    const retrieveSeconds = (performance.now() - t0) / 1000;
    const peak = peakMiB();
    for (let i = 0; i < res.mentions; i++) {
      const row = res.scores.subarray(i * res.topK, (i + 1) * res.topK);
      for (let j = 1; j < row.length; j++) if (!(row[j - 1]! >= row[j]!)) throw new Error(`query ${i}: scores not descending`);
    }
    pool.dispose();
    const topkSeconds = Math.max(retrieveSeconds - encodeSeconds, 1e-9);
    return {
      ...base,
      supported: true,
      poolMiB: r1(poolMiB),
      engineMiB: r1(engineMiB),
      baseRssMiB: r1(baseRssMiB),
      loadSeconds: Number(loadSeconds.toFixed(2)),
      allocAndFirstChunkSeconds: Number(probe.firstAt().toFixed(2)),
      loadRssAtQuartersMiB: probe.rssAtQuarters,
      loadGiBPerSec: Number(((rows * settings.dim * 4) / 2 ** 30 / loadSeconds).toFixed(2)),
      loadPeakRssMiB: r1(loadPeakMiB),
      loadWorkingMiB: r1(loadPeakMiB - baseRssMiB - poolMiB),
      retrieveSeconds: Number(retrieveSeconds.toFixed(2)),
      contextEncodeSeconds: Number(encodeSeconds.toFixed(2)),
      queriesPerSec: r1(res.mentions / retrieveSeconds),
      topkQueriesPerSec: r1(res.mentions / topkSeconds),
      poolRowsScannedPerSec: Math.round((res.mentions * rows) / topkSeconds),
      peakRssMiB: r1(peak),
      workingMiB: r1(peak - baseRssMiB - poolMiB),
      rssAfterMiB: r1(rssMiB()),
    };
  } catch (e) {
    return { ...base, supported: false, note: `refused: ${(e as Error).message}` };
  } finally {
    ents.close();
    ments.close();
  }
}

async function encodePhase(dir: string, n: number): Promise<Record<string, unknown>> {
  const d = join(dir, `enc${n}`);
  mkdirSync(d, { recursive: true });
  const w = settings.encodeWidth;
  const r = mulberry32(9);
  writeTokenCache(join(d, 'entities.tokens'), synthetic('entities', n, w, w), (_i, out) => {
    const len = 8 + Math.floor(r() * (w - 7));
    for (let j = 0; j < len; j++) out[j] = 1 + Math.floor(r() * (settings.vocab - 1));
  });
  const model = new BiEncoder({ config: sizedConfig('tiny', settings.vocab, 64), device: 'cpu' });
  [model.context, model.candidate].forEach((enc, i) =>
    enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, 1 + i)),
  );
  const ents = new TokenCache(join(d, 'entities.tokens'));
  try {
    await releaseHost();
    const baseRssMiB = peakMiB();
    const t0 = performance.now();
    const probe = progressProbe(t0);
    const pool = await encodeEntityPool(model, ents, { batchSize: settings.encodeBatch, cacheDir: d, onProgress: probe.hook });
    const seconds = (performance.now() - t0) / 1000;
    const peak = peakMiB();
    const poolMiB = pool.tensor.nbytes / MiB;
    pool.dispose();
    return {
      phase: 'encode',
      rows: n,
      dim: model.embedDim,
      batch: settings.encodeBatch,
      poolMiB: r1(poolMiB),
      baseRssMiB: r1(baseRssMiB),
      seconds: Number(seconds.toFixed(2)),
      entitiesPerSec: Math.round(n / seconds),
      rssAtQuartersMiB: probe.rssAtQuarters,
      jsArrayBuffersAtQuartersMiB: probe.buffersAtQuarters,
      peakRssMiB: r1(peak),
      workingMiB: r1(peak - baseRssMiB - poolMiB),
      rssAfterMiB: r1(rssMiB()),
    };
  } finally {
    ents.close();
    rmSync(d, { recursive: true, force: true });
  }
}

async function childMain(spec: string, dir: string): Promise<Record<string, unknown>> {
  setThreads(settings.threads);
  const [what, a, b] = spec.split(':') as [string, string, string | undefined];
  if (what === 'gen') return generate(dir, Number(a));
  if (what === 'retrieve') return retrievalPhase(dir, Number(a), (b ?? 'f32') as PoolDType);
  if (what === 'encode') return encodePhase(dir, Number(a));
  throw new Error(`unknown child ${spec}`);
}

// --- parent -------------------------------------------------------------------------------------

function runChild(spec: string, dir: string): Record<string, unknown> {
  const args = [
    '--expose-gc',
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    ...process.argv.slice(2),
    '--child',
    spec,
    '--child-dir',
    dir,
  ];
  const loadavgBefore = os.loadavg().map((x) => Number(x.toFixed(2)));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`child ${spec} failed (${r.status ?? r.signal})`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  out.loadavgBefore = loadavgBefore;
  out.loadavgAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
  console.log(JSON.stringify(out));
  return out;
}

async function main(): Promise<void> {
  const m = machine();
  console.log('machine', JSON.stringify(m));
  console.log('settings', JSON.stringify(settings));
  const userDir = flagValue('dir', '');
  const dir = userDir || mkdtempSync(join(os.tmpdir(), 'biofeg-bench-pool-'));
  const results: Record<string, unknown>[] = [];
  const t0 = performance.now();
  try {
    const sizes = [...new Set([settings.rows, settings.smallRows].filter((r) => r > 0))];
    for (const rows of sizes) {
      // With --dir, pool files from an earlier run (same settings, same key) are reused.
      if (userDir && existsSync(join(retrievalDir(dir, rows), 'mentions.tokens')) && hasFlag('reuse')) continue;
      results.push(runChild(`gen:${rows}`, dir));
    }
    for (const rows of sizes) {
      results.push(runChild(`retrieve:${rows}:f32`, dir));
      if (rows === settings.rows) results.push(runChild(`retrieve:${rows}:bf16`, dir));
    }
    for (const n of settings.encode) results.push(runChild(`encode:${n}`, dir));
  } finally {
    if (!userDir && !hasFlag('keep')) rmSync(dir, { recursive: true, force: true });
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  const rows = results
    .filter((r) => r.phase !== undefined && !String(r.phase).startsWith('generate'))
    .map((r) => ({
      phase: String(r.phase),
      rows: Number(r.rows),
      'pool MiB': r.supported === false ? '-' : Number(r.poolMiB),
      'base MiB': r.baseRssMiB === undefined ? '-' : Number(r.baseRssMiB),
      'peak RSS MiB': r.peakRssMiB === undefined ? '-' : Number(r.peakRssMiB),
      'working MiB': r.workingMiB === undefined ? '-' : Number(r.workingMiB),
      'load working MiB': r.loadWorkingMiB === undefined ? '-' : Number(r.loadWorkingMiB),
      'load s': r.loadSeconds === undefined ? '-' : Number(r.loadSeconds),
      s: r.retrieveSeconds !== undefined ? Number(r.retrieveSeconds) : r.seconds !== undefined ? Number(r.seconds) : '-',
      'per s': r.queriesPerSec !== undefined ? `${r.queriesPerSec} q` : r.entitiesPerSec !== undefined ? `${r.entitiesPerSec} ent` : '-',
      note: r.supported === false ? String(r.note) : '',
    }));
  console.log(table(rows));
  const path = writeResult(flagValue('out', 'pool-cpu.json'), {
    machine: m,
    settings,
    totalSeconds: Math.round(totalSeconds),
    notes:
      "working = peak RSS - the child's peak RSS before the phase (runtime, model, token caches) - pool bytes; " +
      'the pool file was written just before its load (served from the OS page cache)',
    results,
  });
  console.log(`wrote ${path} (${Math.round(totalSeconds)} s)`);
}

const childSpec = flagValue('child', '');
if (childSpec) process.stdout.write(`${JSON.stringify(await childMain(childSpec, flagValue('child-dir', '')))}\n`);
else await main();
