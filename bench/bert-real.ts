// npm run bench:bert -- --shapes real [--device cuda --precision bf16 --only train64,train128,hard,encode256
//                                      --peak-tflops T --iters N --min-time S --no-peer --modes eager,compile --compile-only SHAPES
//                                      --compile-backend B --child-timeout-s S --smoke --out FILE]
// Issue 21, item 1: BERT-base at the original's real shapes (bench/bert-real-shapes.ts): the
// bi-encoder in-batch train step at batch 64 and 128, the hard-negative step (4 mentions x 64
// candidates), encode at batch 256, seq 128. Per shape: sequences/s, model FLOPs utilisation (MFU:
// model FLOPs per second over the card's dense bf16 peak, FLOPs counted as FLOPS_NOTE says) and
// device memory, ours beside HF BertModel (sdpa attention, under autocast bf16 on cuda) eager and
// torch.compile'd (bench/peers/bert_torch_real.py); the best PyTorch mode is the bar (issue 21:
// train64 and encode256 at least 1.3x it, train64 at least 40% MFU). Each (shape, side) runs in a
// child process of its own. --smoke runs every path with a tiny BERT at tiny shapes (cuemu, tests).
// Writes bench/results/bert-real-<device>-<precision>[-smoke].json (or --out FILE).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bert } from '../src/models/bert.js';
import { BiEncoder } from '../src/models/biencoder.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { Workspace } from '../src/models/workspace.js';
import { bytesInUse, engineInfo, native, setThreads, type DeviceName } from '../src/native.js';
import { hardStep, inBatchStep } from '../src/train/biencoder-step.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import {
  FLOPS_NOTE,
  peakTflops,
  REAL_SHAPES,
  type RealShape,
  type RealShapeName,
  SMOKE_SHAPES,
  seqsPerStep,
  stepFlops,
  tokensOf,
} from './bert-real-shapes.js';
import { flagValue, hasFlag, machine, table, writeResult } from './common.js';

const smoke = hasFlag('smoke');
const device = flagValue('device', 'cuda') as DeviceName;
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${String(device)}`);
const precision = flagValue('precision', device === 'cuda' ? 'bf16' : 'f32') as 'f32' | 'bf16';
if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${String(precision)}`);
const iters = Number(flagValue('iters', smoke ? '2' : '10'));
const minTime = Number(flagValue('min-time', smoke ? '0' : '2'));
const threads = Number(flagValue('threads', '0'));
const size = smoke ? 'tiny' : 'base';
const vocabSize = smoke ? 1000 : 30522;
const shapes = smoke ? SMOKE_SHAPES : REAL_SHAPES;
const names = flagValue('only', Object.keys(REAL_SHAPES).join(','))
  .split(',')
  .filter((s) => s !== '') as RealShapeName[];
for (const n of names)
  if (!Object.hasOwn(REAL_SHAPES, n)) throw new Error(`--only: unknown shape ${n} (${Object.keys(REAL_SHAPES).join(', ')})`);

interface Measured {
  side: string;
  shape: RealShapeName;
  iters: number;
  msPerIter: number;
  seqPerSec: number;
  /** Device bytes in use after the timed steps (ours) or the peak allocation (PyTorch), MiB. */
  deviceMiB?: number;
  compileSeconds?: number;
  [k: string]: unknown;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sync = () => {
  if (device === 'cuda') native().synchronize();
};

async function timeSteps(step: () => Promise<void>): Promise<number[]> {
  await step(); // warm-up: allocations, cuBLAS handles, workspace
  const times: number[] = [];
  const start = performance.now();
  while (times.length < iters || (performance.now() - start < minTime * 1000 && times.length < 500)) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Ours, one shape (in a child process). */
async function child(name: RealShapeName): Promise<Measured> {
  if (threads > 0) setThreads(threads);
  const s: RealShape = shapes[name];
  const config = sizedConfig(size, vocabSize, 512);
  const init = (models: Bert[]) => {
    const p = initBertParams(models[0]!.layout, models[0]!.numParameters, 1);
    for (const b of models) b.parameters().upload(p);
  };
  let times: number[];
  if (s.kind === 'encode') {
    const bert = new Bert(config, device, { precision });
    init([bert]);
    const a = tokensOf(s.batch, s.seq, vocabSize, 1);
    const mask = Int32Array.from(a.ids, (x) => (x !== 0 ? 1 : 0));
    times = await timeSteps(async () => {
      // As `biofeg encode` runs it: only [CLS] leaves the last layer, padded tokens skipped.
      const o = bert.forward({
        inputIds: a.ids,
        attentionMask: mask,
        batch: s.batch,
        seq: s.seq,
        train: false,
        grad: false,
        clsOnly: true,
      });
      o.cls.download();
    });
  } else {
    const m = new BiEncoder({ config, device, precision });
    init([m.context.bert, m.candidate.bert]);
    const ws = new Workspace(device);
    const opt = new FlatAdamW(device, m.parts(), { patterns: null });
    const ctx = tokensOf(s.batch, s.seq, vocabSize, 1);
    const cands = tokensOf(s.kind === 'hard' ? s.batch * s.k! : s.batch, s.seq, vocabSize, 2);
    const gold = new Int32Array(s.batch); // the gold at position 0, as the original's hard data puts it
    let seed = 1n;
    times = await timeSteps(async () => {
      m.zeroGrad();
      if (s.kind === 'hard') await hardStep(m, ws, { tokens: ctx }, cands, s.k!, gold, { train: true, seed: seed++ });
      else await inBatchStep(m, ws, { tokens: ctx }, cands, { train: true, seed: seed++ });
      opt.clipGradNorm(1.0);
      opt.update(1e-5);
      sync();
    });
  }
  const ms = median(times);
  return {
    side: 'ours',
    shape: name,
    iters: times.length,
    msPerIter: ms,
    seqPerSec: (seqsPerStep(s) * 1000) / ms,
    ...(device === 'cuda' ? { deviceMiB: bytesInUse('cuda') / 2 ** 20 } : {}),
  };
}

/** A child's seconds before it is killed and reported as failed (0: no limit): a slow compile must not eat a GPU check. */
const childTimeoutS = Number(flagValue('child-timeout-s', '0'));

function runJson(cmd: string, args: string[]): Measured | { error: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, ...(childTimeoutS > 0 ? { timeout: childTimeoutS * 1000 } : {}) });
  if (r.status !== 0)
    return {
      error: `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`,
    };
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Measured;
}

async function parent(): Promise<void> {
  const python = process.env['PYTHON'] ?? 'python3';
  const peerScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'bert_torch_real.py');
  const modes = flagValue('modes', 'eager,compile')
    .split(',')
    .filter((x) => x !== '');
  // --compile-only a,b: torch.compile only those shapes (compiling BERT-base takes a minute or more per shape).
  const compileOnly = flagValue('compile-only', '') === '' ? undefined : flagValue('compile-only', '').split(',');
  const probe = device === 'cuda' ? 'import torch, transformers; assert torch.cuda.is_available()' : 'import torch, transformers';
  const peerReason = hasFlag('no-peer')
    ? 'off (--no-peer)'
    : spawnSync(python, ['-c', probe], { stdio: 'ignore' }).status === 0
      ? undefined
      : `${python} cannot import torch and transformers${device === 'cuda' ? ' or sees no GPU' : ''}`;
  if (peerReason) process.stderr.write(`bench:bert real: PyTorch peer skipped: ${peerReason}\n`);
  const info = engineInfo();
  const deviceName = device === 'cuda' ? info.cudaDevice : 'cpu';
  const peakFlag = flagValue('peak-tflops', '');
  const peak = peakFlag !== '' ? Number(peakFlag) : device === 'cuda' ? peakTflops(deviceName) : undefined;
  const config = sizedConfig(size, vocabSize, 512);
  const dims = { hidden: config.hiddenSize, layers: config.numLayers, intermediate: config.intermediateSize };
  const common = [
    '--device',
    device,
    '--precision',
    precision,
    '--iters',
    String(iters),
    '--min-time',
    String(minTime),
    ...(smoke ? ['--smoke'] : []),
  ];
  const rows: Array<Record<string, unknown>> = [];
  for (const name of names) {
    const s = shapes[name];
    const flops = stepFlops(s, dims);
    const mfu = (m: Measured) => (peak ? flops / (m.msPerIter / 1000) / (peak * 1e12) : undefined);
    process.stderr.write(`bench:bert real ${name}: ours...`);
    const args = [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      '--child',
      name,
      ...common,
      ...(threads > 0 ? ['--threads', String(threads)] : []),
    ];
    const ours = runJson(process.execPath, args);
    const peers: Array<Measured | { error: string; side: string }> = [];
    if (!peerReason)
      for (const mode of modes) {
        if (mode === 'compile' && compileOnly && !compileOnly.includes(name)) continue;
        process.stderr.write(` torch ${mode}...`);
        const extra = flagValue('compile-backend', '');
        const r = runJson(python, [peerScript, '--shape', name, '--mode', mode, ...common, ...(extra ? ['--compile-backend', extra] : [])]);
        peers.push('error' in r ? { ...r, side: `torch-${mode}` } : r);
      }
    process.stderr.write('\n');
    const ok = peers.filter((p): p is Measured => !('error' in p));
    const best = ok.length ? ok.reduce((a, b) => (b.seqPerSec > a.seqPerSec ? b : a)) : undefined;
    if ('error' in ours) {
      // A failed or timed-out child: say so and go on (a GPU check must bring back what did run).
      process.stderr.write(`bench:bert real ${name}: ours failed: ${String(ours.error)}\n`);
      rows.push({ shape: name, ...s, seqsPerStep: seqsPerStep(s), gflopPerStep: flops / 1e9, ours: { error: ours.error }, peers });
      continue;
    }
    rows.push({
      shape: name,
      ...s,
      seqsPerStep: seqsPerStep(s),
      gflopPerStep: flops / 1e9,
      ours: { ...ours, ...(mfu(ours) !== undefined ? { mfu: mfu(ours) } : {}) },
      peers: peers.map((p) => ('error' in p ? p : { ...p, ...(mfu(p) !== undefined ? { mfu: mfu(p) } : {}) })),
      ...(best ? { bestPeer: best.side, ratio: ours.seqPerSec / best.seqPerSec } : {}),
    });
  }
  const pct = (x: unknown) => (typeof x === 'number' ? `${(100 * x).toFixed(1)}%` : '-');
  const printed = rows.map((r) => {
    const o = r['ours'] as Partial<Measured> & { mfu?: number };
    const ps = r['peers'] as Array<(Measured & { mfu?: number }) | { error: string; side: string }>;
    const peerCol = (mode: string) => {
      const p = ps.find((x) => x.side === `torch-${mode}`);
      return p === undefined
        ? '-'
        : 'error' in p
          ? 'failed'
          : `${p.seqPerSec.toFixed(0)} (${pct(p.mfu)}${p.deviceMiB === undefined ? '' : `, ${Math.round(p.deviceMiB)} MiB`})`;
    };
    return {
      shape: String(r['shape']),
      'seqs/step': Number(r['seqsPerStep']),
      'ours seq/s': o.seqPerSec ?? 'failed',
      'ours ms': o.msPerIter ?? '-',
      'ours MFU': pct(o.mfu),
      'ours MiB': o.deviceMiB === undefined ? '-' : Math.round(o.deviceMiB),
      'torch eager seq/s (MFU, MiB)': peerCol('eager'),
      'torch compile seq/s (MFU, MiB)': peerCol('compile'),
      'ours/best torch': typeof r['ratio'] === 'number' ? r['ratio'] : '-',
    };
  });
  console.log(
    `device ${device}${device === 'cuda' ? ` (${deviceName}, GEMM ${info.gemmEngine})` : ''}, precision ${precision}, BERT-${size}${smoke ? ' (SMOKE: tiny shapes, not a measurement)' : ''}; ` +
      `median of >= ${iters} steps and >= ${minTime}s after one warm-up step; each side a fresh process`,
  );
  console.log(
    `MFU: FLOPs per second over ${peak ? `${peak} TFLOP/s dense bf16 (${peakFlag ? '--peak-tflops' : `the figure for ${deviceName}`})` : 'an unknown peak (give --peak-tflops): not computed'}; ${FLOPS_NOTE}`,
  );
  console.log(
    `memory: ours = device bytes in use after the timed steps (parameters, gradients, optimizer state, workspace); torch = torch.cuda.max_memory_allocated (peak)`,
  );
  console.log(
    `peer: ${peerReason ? `none (${peerReason})` : `HF BertModel, sdpa attention${precision === 'bf16' ? ', torch.autocast bf16' : ''}, modes ${modes.join(', ')} (compile: torch.compile, compile time outside the timing); the best mode is the bar`}`,
  );
  console.log(table(printed));
  const file = writeResult(flagValue('out', `bert-real-${device}-${precision}${smoke ? '-smoke' : ''}.json`), {
    machine: machine(),
    settings: {
      device,
      precision,
      size,
      vocabSize,
      iters,
      minTimeS: minTime,
      smoke,
      shapes: Object.fromEntries(names.map((n) => [n, shapes[n]])),
      peakTflops: peak ?? null,
    },
    flops: FLOPS_NOTE,
    peer: peerReason ? { skipped: peerReason } : { script: 'bench/peers/bert_torch_real.py', modes },
    bars: { train64: { ratio: 1.3, mfu: 0.4 }, encode256: { ratio: 1.3 } },
    results: rows,
  });
  console.log(`wrote ${file}`);
}

const childSpec = flagValue('child', '');
if (childSpec) process.stdout.write(`${JSON.stringify(await child(childSpec as RealShapeName))}\n`);
else await parent();
