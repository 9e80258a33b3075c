// node --import tsx bench/gan.ts [--sizes tiny,small --threads 2 --steps N --rounds R --no-peer]
// GAN training steps/s (one step = --critic_iters 5 critic steps + one generator step, as a batch
// of train_gan.py) with the cost split (description encoder, critic, generator, and the
// penalty's own cost against one plain critic forward+backward), beside the same step on
// PyTorch with HF BertModel as E (bench/peers/gan_torch.py) when python3 can import torch and
// transformers: variant 'original' = train_gan.py's step as the original runs it, 'lean' = our
// algorithm (features precomputed, one E pass per step, E's zero gradient not back-propagated).
// Rounds alternate ours / peer (the shared machine's load swings); the best round of each side
// is compared. Writes bench/results/gan-cpu.json.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BiEncoder, TokenBatch } from '../src/models/biencoder.js';
import { DescriptionEncoder, Gan } from '../src/models/gan.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { Workspace } from '../src/models/workspace.js';
import { engine } from '../src/engine.js';
import { setThreads, tensor } from '../src/native.js';
import { criticStep } from '../src/train/gan-step.js';
import { GanTrainer, type CondGrad, type PhaseTimes } from '../src/train/train-gan.js';
import { flagValue, hasFlag, machine, table, timeMs, writeResult } from './common.js';

const SIZES = {
  tiny: { vocab: 8000, bert: 'tiny', seq: 64, batch: 32 },
  small: { vocab: 30522, bert: 'small', seq: 128, batch: 16 },
} as const;
type Size = keyof typeof SIZES;
const BAR = 1.5;

const threads = Number(flagValue('threads', '2'));
const steps = Number(flagValue('steps', '2'));
const rounds = Number(flagValue('rounds', '2'));
const criticIters = Number(flagValue('critic-iters', '5'));
const sizes = flagValue('sizes', 'tiny,small').split(',') as Size[];
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
}

async function ours(size: Size, condGrad: CondGrad): Promise<Ours> {
  const z = SIZES[size];
  const cfg = sizedConfig(z.bert, z.vocab);
  const enc = new DescriptionEncoder(cfg, 'cpu');
  enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, 1));
  const gan = new Gan(enc, cfg.hiddenSize, 'cpu');
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
  t.real = tensor('cpu', 'f32', [z.batch, cfg.hiddenSize], real);
  const desc = tokens(z.batch, z.seq, z.vocab),
    ex = Int32Array.from({ length: z.batch }, (_, i) => i);
  await t.stepOn(desc, ex, 0, 0);
  const times: PhaseTimes = { encoder: 0, critic: 0, generator: 0 };
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) await t.stepOn(desc, ex, 0, k + 1, times);
  const ms = (performance.now() - t0) / steps;
  for (const k of Object.keys(times) as Array<keyof PhaseTimes>) times[k] /= steps;
  t.dispose();
  return { condGrad, msPerStep: ms, stepsPerSec: 1000 / ms, splitMs: times };
}

/** The penalty's own cost: a full critic step minus a plain D forward+backward over the real and fake rows. */
async function penaltyCost(size: Size): Promise<{ criticStepMs: number; plainCriticMs: number; penaltyMs: number }> {
  const z = SIZES[size],
    h = sizedConfig(z.bert, z.vocab).hiddenSize,
    B = z.batch;
  const enc = { outDim: h } as unknown as DescriptionEncoder;
  const gan = new Gan(enc, h, 'cpu');
  gan.initMlps(3);
  const ws = new Workspace('cpu'),
    eng = engine('cpu');
  const rnd = (n: number) => new Float32Array(n).map(() => Math.random() - 0.3);
  const real = tensor('cpu', 'f32', [B, h], rnd(B * h)),
    fake = tensor('cpu', 'f32', [B, h], rnd(B * h)),
    cond = tensor('cpu', 'f32', [B, h], rnd(B * h));
  const alpha = rnd(B).map((v) => v + 0.3);
  const D = gan.discriminator;
  const full = await timeMs('critic step', () => void criticStep(D, ws, { rows: B, real, fake, cond, alpha }), {
    iterations: 400,
    time: 2000,
  });
  const feat2 = tensor('cpu', 'f32', [2 * B, h]),
    cond2 = tensor('cpu', 'f32', [2 * B, h]),
    dO = tensor('cpu', 'f32', [2 * B, 1]);
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
    { iterations: 400, time: 2000 },
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
  ];
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').split('\n').filter(Boolean).slice(-1)[0] ?? 'failed' };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Peer;
}

function peerAvailable(): boolean {
  if (hasFlag('no-peer')) return false;
  return spawnSync('python3', ['-c', 'import torch, transformers'], { encoding: 'utf8' }).status === 0;
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
  const path = writeResult('gan-cpu.json', {
    machine: machine(),
    bar: `>= ${BAR}x PyTorch (original) at tiny and small; penalty <= one plain critic forward+backward`,
    results,
  });
  console.log(`wrote ${path}`);
}

await main();
