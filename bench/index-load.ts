// npm run bench:index-load [-- --rows 1000000 --size base --rounds 5 --gap-ms 3000 --device cpu --threads N --dir DIR | --keep]
//
// Cold start of a Linker: `Linker.load` of a bi-encoder checkpoint and a bf16 entity index of --rows
// vectors (default 1,000,000 x 768, the base size's width), each round in a fresh process. The
// index is synthetic: a seeded random checkpoint of --size (bench/serve-model.ts) and random bf16
// vectors written straight through the index writer (no entity is encoded), in a temporary folder
// removed at the end (--dir DIR: kept there and reused). The page cache is warm (the files were
// just written, and dropping it needs root): what is measured is the load path itself, not the
// disk. Rounds are --gap-ms apart (default 3 s): on a VM whose host takes freed guest memory back
// (free page reporting, about 2 s after the free), a round started at once would reuse the memory
// the last one just freed, which a real start does not find. Reported per round: Linker.load wall
// time and CPU time (all threads: steadier on a shared machine) with its system part, the
// process's resident memory (RSS) before and after it, process start to ready, and the first link;
// then best and median, and RSS growth against the vectors' bytes plus the context encoder's
// weights (the candidate encoder is hashed, never loaded). Bar (the issue's): under 2,000 ms at
// 1,000,000 x 768 bf16, RSS about the vectors plus the model plus O(batch).
// Writes bench/results/index-load-<device>-<cpu>.json once, at the end.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { writeGeneration } from '../src/link/index-file.js';
import { openContextModel } from '../src/link/model.js';
import { Linker } from '../src/link/linker.js';
import type { BertSize } from '../src/models/init.js';
import { cpuId, flagValue, hasFlag, machine, table, writeResult } from './common.js';
import { writeRandomBiencoder } from './serve-model.js';

const BAR_MS = 2000;

/** One round, measured inside its own process. */
interface Round {
  loadMs: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** CPU time of the whole process (every thread) during the load: steadier than wall time on a shared machine. */
  loadCpuMs: number;
  /** Its kernel part (page faults, file copies): where memory the host must hand back in shows. */
  loadSysMs: number;
  /** Process start to Linker ready (node, module loading and the load). */
  processMs: number;
  /** The first link after the load (a search over every vector: no page left to fault in). */
  firstLinkMs: number;
}

const mib = (b: number): number => b / 2 ** 20;

/** /proc/self/status VmRSS in bytes (all threads: the Linker's worker included). */
function rss(): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

// --child MODEL INDEX DEVICE THREADS: one round; prints one JSON line.
if (process.argv[2] === '--child') {
  const [model, index, device, threads] = process.argv.slice(3) as [string, string, 'cpu' | 'cuda', string];
  const before = rss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const linker = await Linker.load(model, index, { device, ...(threads !== '' ? { threads: Number(threads) } : {}) });
  const loadMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const processMs = performance.now() + performance.timeOrigin - processStart();
  const after = rss();
  const t1 = performance.now();
  await linker.link(['aspirin'], { topK: 1 });
  const r: Round = {
    loadMs,
    rssBeforeMiB: mib(before),
    rssAfterMiB: mib(after),
    loadCpuMs: (cpu.user + cpu.system) / 1000,
    loadSysMs: cpu.system / 1000,
    processMs,
    firstLinkMs: performance.now() - t1,
  };
  console.log(JSON.stringify(r));
  await linker.close();
  process.exit(0);
}

/** When this process started (ms since the epoch), from /proc (performance.timeOrigin is later: after node's own start-up). */
function processStart(): number {
  try {
    const ticks = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1]) * 1000;
    return boot + (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return performance.timeOrigin;
  }
}

/** Random finite bf16 values of moderate size (|x| < 8), little-endian, written through the index writer. */
async function writeIndex(dir: string, model: string, rows: number, seed: number): Promise<{ dim: number; contextBytes: number }> {
  const { lm, hash } = openContextModel(model, 'cpu', 'f32');
  const modelHash = await hash;
  const dim = lm.encoder.outDim;
  const contextBytes = lm.encoder.parts().reduce((s, p) => s + p.params.nbytes, 0);
  const ids = Array.from({ length: rows }, (_, i) => `SYN:${String(i).padStart(7, '0')}`);
  const names = ids.map((_, i) => `synthetic entity ${i} ${seed}`);
  const chunk = 8192;
  const buf = new Uint16Array(chunk * dim);
  await writeGeneration(
    dir,
    { generation: 1, count: rows, dim, dtype: 'bf16', modelHash, maxCandLength: lm.inference.maxCandLength, model },
    ids,
    names,
    (w) => {
      for (let s = 0; s < rows; s += chunk) {
        const v = buf.subarray(0, Math.min(chunk, rows - s) * dim);
        randomFillSync(v);
        // Sign and 7 mantissa bits random; exponent 0x3c-0x40: values in about ±(1/256, 8).
        for (let i = 0; i < v.length; i++) v[i] = (v[i]! & 0x807f) | (0x3c00 + ((v[i]! & 0x0300) >> 1));
        w.rows(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
    },
  );
  return { dim, contextBytes };
}

function round(model: string, index: string, device: string, threads: string): Promise<Round> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', model, index, device, threads], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.once('error', rej);
    c.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) rej(new Error(`round exited ${code}: ${out}`));
      else res(JSON.parse(line) as Round);
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const rows = Number(flagValue('rows', '1000000'));
const size = flagValue('size', 'base') as BertSize;
const rounds = Number(flagValue('rounds', '5'));
const device = flagValue('device', 'cpu');
const threads = flagValue('threads', '');
const gapMs = Number(flagValue('gap-ms', '3000'));
const keepDir = flagValue('dir', '');
if (!Number.isInteger(rows) || rows < 1) throw new Error(`--rows: expected a positive integer, got ${flagValue('rows', '')}`);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a positive integer, got ${flagValue('rounds', '')}`);
if (!Number.isInteger(gapMs) || gapMs < 0) throw new Error(`--gap-ms: expected an integer >= 0, got ${flagValue('gap-ms', '')}`);
if (!['tiny', 'small', 'base'].includes(size)) throw new Error(`--size: tiny, small or base, got ${size}`);
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device: cpu or cuda, got ${device}`);

const work = keepDir !== '' ? keepDir : mkdtempSync(join(os.tmpdir(), 'biofeg-index-load-'));
try {
  const model = join(work, 'model');
  const index = join(work, `index-${size}-${rows}`);
  // A stamp records what the index was made as, so --dir reuses it only for the same settings.
  const stamp = join(index, 'bench-stamp.json');
  const made = { size, rows, seed: 52313, version: 1 };
  const old = existsSync(stamp)
    ? (JSON.parse(readFileSync(stamp, 'utf8')) as typeof made & { dim: number; contextBytes: number })
    : undefined;
  let facts: { dim: number; contextBytes: number };
  if (old && Object.entries(made).every(([k, v]) => old[k as keyof typeof made] === v)) {
    facts = old;
    console.log(`reusing ${index}`);
  } else {
    const t0 = performance.now();
    if (!existsSync(join(model, 'config.json'))) await writeRandomBiencoder(model, size);
    mkdirSync(index, { recursive: true });
    facts = await writeIndex(index, model, rows, made.seed);
    writeFileSync(stamp, JSON.stringify({ ...made, ...facts }));
    console.log(`wrote a ${size} checkpoint and a ${rows} x ${facts.dim} bf16 index in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const vectorBytes = rows * facts.dim * 2;
  const m = machine();
  console.log(
    `${String(m.cpu)}, ${String(m.cores)} cores, ${String(m.memGiB)} GiB; node ${process.version}; load avg ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log(
    `Linker.load(${size} checkpoint, ${rows} x ${facts.dim} bf16 index) on ${device}, ${rounds} rounds ${gapMs} ms apart, a fresh process each`,
  );
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    results.push(await round(model, index, device, threads));
  }
  console.log(
    table(
      results.map((r, i) => ({
        round: i + 1,
        loadMs: Math.round(r.loadMs),
        loadCpuMs: Math.round(r.loadCpuMs),
        loadSysMs: Math.round(r.loadSysMs),
        processMs: Math.round(r.processMs),
        firstLinkMs: Math.round(r.firstLinkMs),
        rssBeforeMiB: Math.round(r.rssBeforeMiB),
        rssAfterMiB: Math.round(r.rssAfterMiB),
      })),
    ),
  );
  const loads = results.map((r) => r.loadMs);
  const growth = median(results.map((r) => r.rssAfterMiB - r.rssBeforeMiB));
  const expected = mib(vectorBytes + (device === 'cpu' ? facts.contextBytes : 0));
  const atBarSize = rows === 1_000_000 && facts.dim === 768;
  const summary = {
    bestMs: Math.min(...loads),
    medianMs: median(loads),
    medianCpuMs: median(results.map((r) => r.loadCpuMs)),
    medianSysMs: median(results.map((r) => r.loadSysMs)),
    rssGrowthMiB: growth,
    vectorsMiB: mib(vectorBytes),
    contextWeightsMiB: mib(facts.contextBytes),
    /** RSS growth beyond the vectors and the context weights held on the host (working memory, code, heaps). */
    overheadMiB: growth - expected,
    barMs: BAR_MS,
    /** The bar is for 1,000,000 x 768 only, and judged by the median round (a best round alone can be luck). */
    underBar: atBarSize ? median(loads) < BAR_MS : null,
    underBarMedian: atBarSize ? median(loads) < BAR_MS : null,
    underBarBest: atBarSize ? Math.min(...loads) < BAR_MS : null,
  };
  console.log(
    `best ${summary.bestMs.toFixed(0)} ms, median ${summary.medianMs.toFixed(0)} ms (bar ${BAR_MS} ms at 1,000,000 x 768, judged by the median${summary.underBar === null ? '' : `: ${summary.underBar ? 'under' : 'over'}`}); ` +
      `RSS +${growth.toFixed(0)} MiB for ${summary.vectorsMiB.toFixed(0)} MiB of vectors and ${summary.contextWeightsMiB.toFixed(0)} MiB of context weights ` +
      `(${summary.overheadMiB.toFixed(0)} MiB beyond them)`,
  );
  const file = writeResult(`index-load-${device}-${cpuId().tag}.json`, {
    machine: m,
    settings: { rows, dim: facts.dim, dtype: 'bf16', size, rounds, gapMs, device, threads: threads === '' ? 'default' : Number(threads) },
    pageCache: 'warm (files just written or reused; dropping the cache needs root)',
    loadAvg1: os.loadavg()[0],
    rounds: results,
    summary,
  });
  console.log(`wrote ${file}`);
} finally {
  if (keepDir === '' && !hasFlag('keep')) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
