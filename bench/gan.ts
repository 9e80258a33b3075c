// node --import tsx bench/gan.ts [--sizes tiny,small --threads 2 --steps N --rounds R --no-peer]
//                                 [--device cpu|cuda --precision f32|bf16 --smoke]
// GAN training steps/s (one step = --critic_iters 5 critic steps + one generator step, as a batch
// of train_gan.py) with the cost split (description encoder, critic, generator, and the
// penalty's own cost against one plain critic forward+backward), beside the same step on
// PyTorch with HF BertModel as E (bench/peers/gan_torch.py) when python3 can import torch and
// transformers: variant 'original' = train_gan.py's step as the original runs it, 'lean' = our
// algorithm (features precomputed, one E pass per step, E's zero gradient not back-propagated).
// Rounds alternate ours / peer (the shared machine's load swings); the best round of each side
// is compared. Writes bench/results/gan-cpu.json.
// --device cuda (issue 21): default size base (BERT-base, seq 128, batch 64), E in bf16 unless
// --precision f32 (the MLPs G and D are f32 either way); steps/s are timed without the split's
// per-phase synchronisations, the split comes from separate steps; device memory (engine
// tensors) and the host waits per step (cudaSyncCounts) are reported. The peer runs on the same
// GPU (torch.autocast bf16 with --precision bf16) where torch sees CUDA. The real features are
// precomputed as in trainGan (GanTrainer.precompute: the frozen context encoder once per run, on
// the device; exact, as it is frozen and runs without dropout), so no step encodes them.
// --smoke: tiny sizes, one step, one round, no peer (the cuemu rehearsal). Writes
// bench/results/gan-cuda.json (gan-cuda-smoke.json with --smoke).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BiEncoder, TokenBatch } from '../src/models/biencoder.js';
import { DescriptionEncoder, Gan } from '../src/models/gan.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { Workspace } from '../src/models/workspace.js';
import { engine } from '../src/engine.js';
import { bytesInUse, cudaSyncCounts, engineInfo, native, setThreads, tensor, type DeviceName } from '../src/native.js';
import type { BertPrecision } from '../src/models/bert.js';
import { criticStep } from '../src/train/gan-step.js';
import { GanTrainer, type CondGrad, type PhaseTimes } from '../src/train/train-gan.js';
import { flagValue, hasFlag, machine, table, timeMs, writeResult } from './common.js';

const SIZES = {
  tiny: { vocab: 8000, bert: 'tiny', seq: 64, batch: 32 },
  small: { vocab: 30522, bert: 'small', seq: 128, batch: 16 },
  base: { vocab: 30522, bert: 'base', seq: 128, batch: 64 },
  smoke: { vocab: 1000, bert: 'tiny', seq: 16, batch: 8 },
} as const;
type Size = keyof typeof SIZES;
const BAR = 1.5;

const device = flagValue('device', 'cpu') as DeviceName;
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${String(device)}`);
const onGpu = device === 'cuda';
const smoke = hasFlag('smoke');
const precision = flagValue('precision', onGpu ? 'bf16' : 'f32') as BertPrecision;
if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${String(precision)}`);
const threads = Number(flagValue('threads', '2'));
const steps = smoke ? 1 : Number(flagValue('steps', onGpu ? '5' : '2'));
const rounds = smoke ? 1 : Number(flagValue('rounds', onGpu ? '1' : '2'));
const criticIters = Number(flagValue('critic-iters', '5'));
const sizes = (smoke ? ['smoke'] : flagValue('sizes', onGpu ? 'base' : 'tiny,small').split(',')) as Size[];
for (const z of sizes) if (!Object.hasOwn(SIZES, z)) throw new Error(`--sizes: unknown size ${z} (${Object.keys(SIZES).join(', ')})`);
setThreads(threads);

function tokens(rows: number, seq: number, vocab: number): TokenBatch {
  // As the peer: every id real, except the second half of the rows padded after seq/2.
  const r = mulberry32(9),
    ids = new Int32Array(rows * seq);
  for (let b = 0; b < rows; b++)
    for (let t = 0; t < seq; t++) ids[b * seq + t] = b >= rows / 2 && t >= seq / 2 ? 0 : 1 + Math.floor(r() * (vocab - 1));
  return { ids, rows, seq };
}

interface Ours {
  condGrad: CondGrad;
  msPerStep: number;
  stepsPerSec: number;
  splitMs: PhaseTimes;
  /** cuda: engine tensors' device memory after the steps, MiB. */
  deviceMiB?: number;
  /** cuda: host waits on the device per step (timed steps, split excluded). */
  syncsPerStep?: { device: number; d2h: number; h2d: number };
}

async function ours(size: Size, condGrad: CondGrad): Promise<Ours> {
  const z = SIZES[size];
  const cfg = sizedConfig(z.bert, z.vocab);
  const enc = new DescriptionEncoder(cfg, device, undefined, precision);
  enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, 1));
  const gan = new Gan(enc, cfg.hiddenSize, device);
  gan.initMlps(2);
  const fakeBi = { embedDim: cfg.hiddenSize } as unknown as BiEncoder; // only its size is read by step()
  const t = new GanTrainer(
    { biencoder: fakeBi, gan, train: undefined as never, val: undefined as never, outputPath: '' },
    {
      learningRate: 5e-5,
      numTrainEpochs: 1,
      trainBatchSize: z.batch,
      evalBatchSize: z.batch,
      criticIters,
      typeOptimization: 'all_encoder_layers',
      seed: 1,
      saveEvery: 10,
      startSaving: 20,
      shuffle: true,
      mseWeight: 0,
      condGrad,
    },
  );
  const real = new Float32Array(z.batch * cfg.hiddenSize).map(() => Math.random());
  // Stands for GanTrainer.precompute()'s cache: the frozen features, once, on the device.
  t.real = tensor(device, 'f32', [z.batch, cfg.hiddenSize], real);
  const desc = tokens(z.batch, z.seq, z.vocab),
    ex = Int32Array.from({ length: z.batch }, (_, i) => i);
  await t.stepOn(desc, ex, 0, 0);
  const times: PhaseTimes = { encoder: 0, critic: 0, generator: 0 };
  let ms: number;
  let syncs: Ours['syncsPerStep'];
  if (onGpu) {
    // The split synchronises at every phase boundary: time the steps without it.
    native().synchronize();
    const s0 = cudaSyncCounts(),
      t0 = performance.now();
    for (let k = 0; k < steps; k++) await t.stepOn(desc, ex, 0, k + 1);
    native().synchronize();
    ms = (performance.now() - t0) / steps;
    const s1 = cudaSyncCounts();
    // The closing synchronize() is the bench's, not the step's.
    syncs = { device: (s1.device - s0.device - 1) / steps, d2h: (s1.d2h - s0.d2h) / steps, h2d: (s1.h2d - s0.h2d) / steps };
    for (let k = 0; k < steps; k++) await t.stepOn(desc, ex, 0, steps + k + 1, times);
  } else {
    const t0 = performance.now();
    for (let k = 0; k < steps; k++) await t.stepOn(desc, ex, 0, k + 1, times);
    ms = (performance.now() - t0) / steps;
  }
  for (const k of Object.keys(times) as Array<keyof PhaseTimes>) times[k] /= steps;
  const deviceMiB = onGpu ? bytesInUse('cuda') / 2 ** 20 : undefined;
  t.dispose();
  return {
    condGrad,
    msPerStep: ms,
    stepsPerSec: 1000 / ms,
    splitMs: times,
    ...(deviceMiB !== undefined ? { deviceMiB } : {}),
    ...(syncs ? { syncsPerStep: syncs } : {}),
  };
}

/** The penalty's own cost: a full critic step minus a plain D forward+backward over the real and fake rows. */
async function penaltyCost(size: Size): Promise<{ criticStepMs: number; plainCriticMs: number; penaltyMs: number }> {
  const z = SIZES[size],
    h = sizedConfig(z.bert, z.vocab).hiddenSize,
    B = z.batch;
  const enc = { outDim: h } as unknown as DescriptionEncoder;
  const gan = new Gan(enc, h, device);
  gan.initMlps(3);
  const ws = new Workspace(device),
    eng = engine(device);
  const rnd = (n: number) => new Float32Array(n).map(() => Math.random() - 0.3);
  const real = tensor(device, 'f32', [B, h], rnd(B * h)),
    fake = tensor(device, 'f32', [B, h], rnd(B * h)),
    cond = tensor(device, 'f32', [B, h], rnd(B * h));
  const alpha = rnd(B).map((v) => v + 0.3);
  const D = gan.discriminator;
  const budget = smoke ? { iterations: 1, time: 0 } : { iterations: 400, time: 2000 };
  const full = await timeMs('critic step', () => void criticStep(D, ws, { rows: B, real, fake, cond, alpha }), budget);
  const feat2 = tensor(device, 'f32', [2 * B, h]),
    cond2 = tensor(device, 'f32', [2 * B, h]),
    dO = tensor(device, 'f32', [2 * B, 1]);
  const plain = await timeMs(
    'plain critic',
    () => {
      ws.view(feat2, 0, [B, h]).copyFrom(real);
      ws.view(feat2, B * h, [B, h]).copyFrom(fake);
      ws.view(cond2, 0, [B, h]).copyFrom(cond);
      ws.view(cond2, B * h, [B, h]).copyFrom(cond);
      const tr = D.forward(feat2, cond2, 2 * B, 'plain');
      tr.y.download();
      eng.fill(dO, 1 / B);
      D.mlp.backward(tr, dO, { slot: 'plain' });
    },
    budget,
  );
  return { criticStepMs: full, plainCriticMs: plain, penaltyMs: full - plain };
}

interface Peer {
  variant: string;
  msPerStep: number;
  stepsPerSec: number;
  splitMs: Record<string, number>;
  torch?: string;
}

function peer(size: Size, variant: 'original' | 'lean'): Peer | { error: string } {
  const z = SIZES[size],
    cfg = sizedConfig(z.bert, z.vocab);
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'gan_torch.py');
  const args = [
    script,
    '--vocab',
    String(z.vocab),
    '--hidden',
    String(cfg.hiddenSize),
    '--layers',
    String(cfg.numLayers),
    '--heads',
    String(cfg.numHeads),
    '--intermediate',
    String(cfg.intermediateSize),
    '--seq',
    String(z.seq),
    '--batch',
    String(z.batch),
    '--critic-iters',
    String(criticIters),
    '--steps',
    String(steps),
    '--threads',
    String(threads),
    '--variant',
    variant,
    '--device',
    device,
    ...(onGpu && precision === 'bf16' ? ['--autocast-bf16'] : []),
  ];
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').split('\n').filter(Boolean).slice(-1)[0] ?? 'failed' };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Peer;
}

function peerAvailable(): boolean {
  if (hasFlag('no-peer') || smoke) return false;
  const probe = onGpu ? 'import torch, transformers; assert torch.cuda.is_available()' : 'import torch, transformers';
  return spawnSync('python3', ['-c', probe], { encoding: 'utf8' }).status === 0;
}

const best = <T extends { msPerStep: number }>(xs: T[]): T => xs.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));

async function main(): Promise<void> {
  const withPeer = peerAvailable();
  const results: Record<string, unknown>[] = [];
  const rows: Array<Record<string, string | number>> = [];
  for (const size of sizes) {
    const runs: { original: Ours[]; critic: Ours[]; torchOriginal: Peer[]; torchLean: Peer[] } = {
      original: [],
      critic: [],
      torchOriginal: [],
      torchLean: [],
    };
    const errors: string[] = [];
    for (let r = 0; r < rounds; r++) {
      runs.original.push(await ours(size, 'original'));
      if (withPeer)
        for (const v of ['original', 'lean'] as const) {
          const p = peer(size, v);
          if ('error' in p) errors.push(p.error);
          else (v === 'original' ? runs.torchOriginal : runs.torchLean).push(p);
        }
      runs.critic.push(await ours(size, 'critic'));
    }
    const gp = await penaltyCost(size);
    const o = best(runs.original),
      c = best(runs.critic);
    const to = runs.torchOriginal.length ? best(runs.torchOriginal) : undefined,
      tl = runs.torchLean.length ? best(runs.torchLean) : undefined;
    const ratio = to ? to.msPerStep / o.msPerStep : undefined;
    results.push({
      size,
      ...SIZES[size],
      criticIters,
      threads,
      steps,
      rounds,
      ours: runs.original,
      oursCritic: runs.critic,
      torchOriginal: runs.torchOriginal,
      torchLean: runs.torchLean,
      penalty: gp,
      errors,
      ratioVsOriginal: ratio ?? null,
      ratioVsLean: tl ? tl.msPerStep / o.msPerStep : null,
      ratioCriticVsOriginal: to ? to.msPerStep / c.msPerStep : null,
      bar: BAR,
      meetsBar: ratio !== undefined ? ratio >= BAR : null,
      penaltyWithinBar: gp.penaltyMs <= gp.plainCriticMs,
    });
    rows.push({
      size,
      'ours steps/s': o.stepsPerSec,
      ...(onGpu
        ? {
            'device MiB': o.deviceMiB ?? '-',
            'syncs/step': o.syncsPerStep ? o.syncsPerStep.device + o.syncsPerStep.d2h + o.syncsPerStep.h2d : '-',
          }
        : {}),
      'E ms': o.splitMs.encoder,
      'critic ms': o.splitMs.critic,
      'G ms': o.splitMs.generator,
      'GP ms': gp.penaltyMs,
      'plain D f+b ms': gp.plainCriticMs,
      'ours(critic E) steps/s': c.stepsPerSec,
      'torch orig steps/s': to?.stepsPerSec ?? '-',
      'torch lean steps/s': tl?.stepsPerSec ?? '-',
      'x vs orig': ratio ?? '-',
      'x vs lean': tl ? tl.msPerStep / o.msPerStep : '-',
      'x critic-E vs orig': to ? to.msPerStep / c.msPerStep : '-',
    });
    if (errors.length) console.error(`${size}: peer errors: ${errors.join('; ')}`);
  }
  console.log(table(rows));
  if (onGpu && !withPeer && !smoke) console.error('no PyTorch peer: python3 cannot import torch and transformers with CUDA');
  const file = onGpu ? (smoke ? 'gan-cuda-smoke.json' : 'gan-cuda.json') : 'gan-cpu.json';
  const path = writeResult(file, {
    machine: machine(),
    backend: device,
    ...(onGpu ? { cudaDevice: engineInfo().cudaDevice, precision, precisionNote: 'E (BERT) in the given precision; G and D f32' } : {}),
    bar: onGpu
      ? `>= ${BAR}x PyTorch on the same GPU at base size, batch 64 (issue 21)`
      : `>= ${BAR}x PyTorch (original) at tiny and small; penalty <= one plain critic forward+backward`,
    results,
  });
  console.log(`wrote ${path}`);
}

await main();
