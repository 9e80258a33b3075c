// npm run bench:bert [-- --sizes tiny,small,base --threads N --iters N --min-time S --rounds R --no-peer
//                      --device cpu|cuda --precision f32|bf16]
// Sequences/s of BERT encode (eval, grad: false) and of the BLINK bi-encoder train step (two
// encoders, B x B dot-product scores, cross-entropy, backward, clip 1.0, FlatAdamW) at the issue's
// sizes, beside HF transformers BertModel (eager attention) on PyTorch with the same threads and
// shapes (bench/peers/bert_torch.py) when python3 can import torch and transformers. Every
// (size, phase) runs in a fresh child process of its own, ours and the peer's alike, so the peak
// RSS reported is that measurement's alone. The shared machine's load swings a lot, so each
// (size, phase) is measured in --rounds alternating rounds (ours, peer, ours, peer, ...) and the
// best round of each side is compared; every round is kept in the JSON. Prints a table, writes
// bench/results/bert-cpu.json.
// --device cuda (with --precision bf16: mixed precision, the peer under torch.autocast bf16) runs
// both sides on the GPU, synchronised after every step; memory is then the device's peak
// allocation (ours: bytes in use after the step; PyTorch: max_memory_allocated), and the CPU bars
// do not apply. Writes bench/results/bert-cuda-<precision>-<sizes>.json.
// --profile (ours only, no peer, nothing written): runs each child with BIOFEG_PROFILE=1 and prints
// the fast CPU backend's wall time per op and per GEMM shape over the timed iterations, and the
// share of the step spent outside the ops (N-API, TypeScript, host copies).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bert } from '../src/models/bert.js';
import { BiEncoder, type TokenBatch } from '../src/models/biencoder.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { Workspace } from '../src/models/workspace.js';
import { bytesInUse, native, setThreads, type DeviceName } from '../src/native.js';
import { inBatchStep } from '../src/train/biencoder-step.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import { flagValue, hasFlag, machine, table, writeResult, releaseHost } from './common.js';

const SIZES = {
  tiny: { vocab: 8000, seq: 64, batch: 32 },
  small: { vocab: 30522, seq: 128, batch: 16 },
  base: { vocab: 30522, seq: 128, batch: 8 },
} as const;
type Size = keyof typeof SIZES;
type Phase = 'encode' | 'train';
const PHASES: Phase[] = ['encode', 'train'];

/** The issue's bars: ours / PyTorch sequences per second. */
const BARS: Record<Phase, Record<Size, number>> = {
  encode: { tiny: 1.5, small: 1.5, base: 1.1 },
  train: { tiny: 1.5, small: 1.5, base: 1.0 },
};

interface Measured {
  size: Size;
  phase: Phase;
  threads: number;
  iters: number;
  msPerIter: number;
  seqPerSec: number;
  peakRssMiB: number;
  /** RSS before the model was built (the runtime's own share). */
  baseRssMiB?: number;
  /** RSS after the timed iterations (steady state, setup transients gone). */
  rssAfterMiB?: number;
  /** Train: median ms of clip + AdamW inside a step. */
  optimizerMs?: number;
  [k: string]: unknown;
}

const threads = Number(flagValue('threads', String(os.cpus().length)));
const iters = Number(flagValue('iters', '5'));
const minTime = Number(flagValue('min-time', '2'));
const rounds = Number(flagValue('rounds', '2'));
const device = flagValue('device', 'cpu') as DeviceName;
const precision = flagValue('precision', 'f32') as 'f32' | 'bf16';
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${String(device)}`);
if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${String(precision)}`);
const onGpu = device === 'cuda';
const sync = () => {
  if (onGpu) (native() as unknown as { synchronize(): void }).synchronize();
};
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Ids with the last quarter of every row padding (id 0, which paddingMask and HF both mask). */
function batchOf(size: Size, seed: number): TokenBatch & { mask: Int32Array } {
  const { vocab, seq, batch } = SIZES[size];
  const real = seq - Math.floor(seq / 4);
  const r = mulberry32(seed);
  const ids = new Int32Array(batch * seq),
    mask = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < real; t++) {
      ids[b * seq + t] = 1 + Math.floor(r() * (vocab - 1));
      mask[b * seq + t] = 1;
    }
  return { ids, mask, rows: batch, seq };
}

interface ProfileRow {
  op: string;
  ms: number;
  calls: number;
  gflop: number;
}
/** The addon's per-op profile (present in builds with native/cpu/profile.cpp; on with BIOFEG_PROFILE=1). */
const prof = native() as unknown as { profileEnabled?: () => boolean; profile?: () => ProfileRow[]; profileReset?: () => void };
const profiling = () => prof.profileEnabled?.() === true;

/** Warm-up, then at least `iters` timed iterations and at least `minTime` seconds (at most 200). */
async function timeIters(size: Size, step: () => void | Promise<void>): Promise<number[]> {
  for (let i = 0; i < (size === 'base' ? 1 : 2); i++) await step();
  if (profiling()) prof.profileReset!();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < iters || (performance.now() - start < minTime * 1000 && times.length < 200)) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return times;
}

/** The same random init in every model (BLINK's two encoders start as copies of one BERT). */
function initModels(models: Bert[]): void {
  // A function of its own, so the host copy is garbage once it returns (an async frame would keep it).
  const init = initBertParams(models[0]!.layout, models[0]!.numParameters, 1);
  for (const b of models) b.parameters().upload(init);
}

async function child(size: Size, phase: Phase): Promise<Measured> {
  setThreads(threads);
  const baseRssMiB = maxRssMiB();
  const config = sizedConfig(size, SIZES[size].vocab, 512);
  const { batch } = SIZES[size];
  const a = batchOf(size, 1);
  let times: number[];
  let optimizerMs: number | undefined;
  if (phase === 'encode') {
    const bert = new Bert(config, device, { precision });
    initModels([bert]);
    await releaseHost();
    times = await timeIters(size, () => {
      // As `biofeg encode` runs it: only [CLS] leaves the last layer (clsOnly).
      const o = bert.forward({ inputIds: a.ids, attentionMask: a.mask, batch, seq: a.seq, train: false, grad: false, clsOnly: true });
      o.cls.download();
    });
  } else {
    const m = new BiEncoder({ config, device, precision });
    initModels([m.context.bert, m.candidate.bert]);
    await releaseHost();
    const ws = new Workspace(device);
    const opt = new FlatAdamW(device, m.parts(), { patterns: null });
    const b = batchOf(size, 2);
    const optTimes: number[] = [];
    let seed = 1n;
    times = await timeIters(size, async () => {
      m.zeroGrad();
      await inBatchStep(m, ws, { tokens: a }, b, { train: true, seed: seed++ });
      const t0 = performance.now();
      opt.clipGradNorm(1.0);
      opt.update(3e-5);
      sync();
      optTimes.push(performance.now() - t0);
    });
    optimizerMs = median(optTimes.slice(-times.length));
  }
  const ms = median(times);
  const profile = profiling() ? { iters: times.length, totalMs: times.reduce((a, b) => a + b, 0), ops: prof.profile!() } : undefined;
  const seqs = phase === 'encode' ? batch : 2 * batch; // train: a context and a candidate per pair
  return {
    size,
    phase,
    threads,
    iters: times.length,
    msPerIter: ms,
    seqPerSec: (seqs * 1000) / ms,
    peakRssMiB: maxRssMiB(),
    baseRssMiB,
    rssAfterMiB: process.memoryUsage().rss / 2 ** 20,
    ...(optimizerMs !== undefined ? { optimizerMs } : {}),
    ...(onGpu ? { deviceMiB: bytesInUse('cuda') / 2 ** 20, precision } : {}),
    ...(profile ? { profile } : {}),
  };
}

function runJson(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Measured {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, ...(env ? { env } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Measured;
}

/** Per-op table of one profiled child: ms per iteration, share of the step, GFLOP/s. */
function printProfile(m: Measured): void {
  const p = m['profile'] as { iters: number; totalMs: number; ops: ProfileRow[] } | undefined;
  if (!p) throw new Error('--profile: the addon has no profile (build with native/cpu/profile.cpp)');
  const per = (x: number) => x / p.iters;
  const inOps = p.ops.reduce((a, r) => a + r.ms, 0);
  const groups = new Map<string, number>();
  for (const r of p.ops) {
    const g = r.op.startsWith('gemm') ? 'gemm (all shapes)' : r.op;
    groups.set(g, (groups.get(g) ?? 0) + r.ms);
  }
  console.log(
    `${m.size} ${m.phase}: ${per(p.totalMs).toFixed(1)} ms per iteration (${p.iters} timed), ops ${per(inOps).toFixed(1)} ms, outside ops ${per(p.totalMs - inOps).toFixed(1)} ms`,
  );
  const rows = [...groups].sort((a, b) => b[1] - a[1]).map(([op, ms]) => ({ op, 'ms/iter': per(ms), '%': (100 * ms) / p.totalMs }));
  console.log(table(rows));
  console.log(
    table(
      p.ops
        .filter((r) => r.op.startsWith('gemm') || r.gflop > 0)
        .slice(0, 24)
        .map((r) => ({
          op: r.op,
          'ms/iter': per(r.ms),
          'calls/iter': per(r.calls),
          'GFLOP/s': r.gflop / (r.ms / 1000),
        })),
    ),
  );
}

async function profileRun(sizes: Size[], common: string[]): Promise<void> {
  for (const size of sizes)
    for (const phase of PHASES) {
      const m = runJson(
        process.execPath,
        ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), '--child', `${size}:${phase}`, ...common],
        { ...process.env, BIOFEG_PROFILE: '1' },
      );
      printProfile(m);
    }
}

async function parent(): Promise<void> {
  const sizes = flagValue('sizes', 'tiny,small,base')
    .split(',')
    .filter((s) => s !== '') as Size[];
  for (const s of sizes) if (!Object.hasOwn(SIZES, s)) throw new Error(`--sizes: unknown size ${s} (tiny, small, base)`);
  const python = process.env['PYTHON'] ?? 'python3';
  const peerScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'bert_torch.py');
  const probe = onGpu ? 'import torch, transformers; assert torch.cuda.is_available()' : 'import torch, transformers';
  const peer = !hasFlag('no-peer') && spawnSync(python, ['-c', probe], { stdio: 'ignore' }).status === 0;
  const common = [
    '--threads',
    String(threads),
    '--iters',
    String(iters),
    '--min-time',
    String(minTime),
    '--device',
    device,
    '--precision',
    precision,
  ];
  if (hasFlag('profile')) return profileRun(sizes, common);
  const loadBefore = os.loadavg();
  const results: Array<{ size: Size; phase: Phase; ours: Measured; torch?: Measured; ratio?: number; bar: number; pass?: boolean }> = [];
  for (const size of sizes)
    for (const phase of PHASES) {
      // Ours and the peer alternately, so a change in machine load hits both alike.
      const oursRounds: Measured[] = [],
        torchRounds: Measured[] = [];
      for (let r = 0; r < rounds; r++) {
        process.stderr.write(`bench:bert ${size} ${phase} round ${r + 1}/${rounds}: ours...`);
        const load1 = os.loadavg()[0]!;
        oursRounds.push({
          ...runJson(process.execPath, [
            '--expose-gc',
            ...process.execArgv,
            fileURLToPath(import.meta.url),
            '--child',
            `${size}:${phase}`,
            ...common,
          ]),
          loadavg1: load1,
        });
        if (peer) {
          process.stderr.write(' pytorch...');
          torchRounds.push({ ...runJson(python, [peerScript, '--size', size, '--phase', phase, ...common]), loadavg1: os.loadavg()[0]! });
        }
        process.stderr.write(
          ` ${oursRounds.at(-1)!.seqPerSec.toFixed(1)}${peer ? ` vs ${torchRounds.at(-1)!.seqPerSec.toFixed(1)}` : ''} seq/s\n`,
        );
      }
      const best = (xs: Measured[]) => xs.reduce((a, b) => (b.seqPerSec > a.seqPerSec ? b : a));
      const ours = { ...best(oursRounds), rounds: oursRounds };
      const torch = peer ? { ...best(torchRounds), rounds: torchRounds } : undefined;
      const ratio = torch ? ours.seqPerSec / torch.seqPerSec : undefined;
      const bar = BARS[phase][size];
      results.push({ size, phase, ours, ...(torch ? { torch, ratio, ...(onGpu ? {} : { pass: ratio! >= bar }) } : {}), bar });
    }
  const loadAfter = os.loadavg();
  const rows = results.map((r) => ({
    size: r.size,
    phase: r.phase,
    'ours seq/s': r.ours.seqPerSec,
    'torch seq/s': r.torch?.seqPerSec ?? '-',
    'ours/torch': r.ratio ?? '-',
    ...(onGpu ? {} : { bar: `>=${r.bar}`, ok: r.pass === undefined ? '-' : r.pass ? 'yes' : 'NO' }),
    'ours ms': r.ours.msPerIter,
    'torch ms': r.torch?.msPerIter ?? '-',
    ...(onGpu
      ? {
          'ours device MiB': Math.round(Number(r.ours['deviceMiB'])),
          'torch device MiB': r.torch ? Math.round(Number(r.torch['deviceMiB'])) : '-',
        }
      : { 'ours peak MiB': Math.round(r.ours.peakRssMiB), 'torch peak MiB': r.torch ? Math.round(r.torch.peakRssMiB) : '-' }),
  }));
  const baseTrain = results.find((r) => r.size === 'base' && r.phase === 'train');
  const rssBar =
    baseTrain?.torch && !onGpu
      ? {
          ours: baseTrain.ours.peakRssMiB,
          torch: baseTrain.torch.peakRssMiB,
          pass: baseTrain.ours.peakRssMiB <= baseTrain.torch.peakRssMiB,
        }
      : undefined;
  const m = machine();
  const peerVersions = results.find((r) => r.torch)?.torch;
  console.log(
    `machine: ${String(m.cpu)} (${String(m.cores)} cores, ${String(m.memGiB)} GiB), node ${String(m.node)}, threads ${threads}` +
      (onGpu
        ? `; device cuda: ${(m.engine as { cudaDevice: string }).cudaDevice}, precision ${precision}, GEMM ${(m.engine as { gemmEngine: string }).gemmEngine}`
        : ''),
  );
  console.log(
    `settings: ${rounds} alternating rounds per row (best round shown), each a fresh process: warm-up 2 (base 1), then the median of >= ${iters} iterations and >= ${minTime}s; last quarter of every sequence padding; train seq/s counts context + candidate sequences (2B per step)`,
  );
  console.log(
    peer
      ? `peer: HF transformers ${String(peerVersions?.['transformers'])} BertModel (eager attention) on torch ${String(peerVersions?.['torch'])}${onGpu ? ` on ${String(peerVersions?.['gpu'])}${precision === 'bf16' ? ' under autocast bf16' : ''}` : ''}, AdamW`
      : `peer: none (python3 cannot import torch and transformers${onGpu ? ' or sees no GPU' : ''})`,
  );
  console.log(
    `load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`,
  );
  console.log(table(rows));
  if (rssBar)
    console.log(
      `peak RSS of the base train step: ours ${rssBar.ours.toFixed(0)} MiB, PyTorch ${rssBar.torch.toFixed(0)} MiB -> ${rssBar.pass ? 'ok' : "NO (bar: at most PyTorch's)"}`,
    );
  const all = sizes.length === 3 && ['tiny', 'small', 'base'].every((s) => sizes.includes(s as Size));
  const file = writeResult(
    onGpu ? `bert-cuda-${precision}-${sizes.join('-')}.json` : all ? 'bert-cpu.json' : `bert-cpu-${sizes.join('-')}.json`,
    {
      machine: m,
      settings: {
        device,
        precision,
        threads,
        iters,
        minTimeS: minTime,
        rounds,
        pick: 'best round per side',
        sizes,
        warmup: { tiny: 2, small: 2, base: 1 },
        padding: 'last quarter of every sequence',
        trainSeqs: '2 x batch per step',
      },
      loadavg: { before: loadBefore, after: loadAfter },
      peer: peer ? { python, script: 'bench/peers/bert_torch.py' } : null,
      bars: onGpu ? "none on cuda (the issue's bars are CPU bars)" : { ...BARS, peakRssBaseTrain: 'ours <= PyTorch' },
      results,
      peakRssBaseTrain: rssBar ?? null,
    },
  );
  console.log(`wrote ${file}`);
}

const childSpec = flagValue('child', '');
if (childSpec) {
  const [size, phase] = childSpec.split(':') as [Size, Phase];
  process.stdout.write(`${JSON.stringify(await child(size, phase))}\n`);
} else {
  await parent();
}
