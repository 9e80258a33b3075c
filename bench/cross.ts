// node --import tsx bench/cross.ts [--sizes tiny,small --threads 2 --rounds 2 --iters 3 --no-peer]
// The cross-encoder: scoring B mentions x k candidate pairs (eval, no activations kept) and one
// training step (scores, cross-entropy, backward, clipping, AdamW), beside the same on PyTorch
// with HF transformers BertModel + Linear (bench/peers/cross_torch.py) when python3 can import
// torch and transformers. Pairs are laid out as the original's modify() makes them, with the same
// padding rule on both sides (see the peer). Rounds alternate ours / peer (the shared machine's
// load swings); the best round of each side is compared. Writes bench/results/cross-cpu.json.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { pairInputs } from '../src/data/cross-inputs.js';
import { CrossEncoder } from '../src/models/crossencoder.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { Workspace } from '../src/models/workspace.js';
import { setThreads } from '../src/native.js';
import { crossStep } from '../src/train/cross-step.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import { flagValue, hasFlag, machine, table, timeMs, writeResult } from './common.js';

const SIZES = {
  tiny: { vocab: 8000, bert: 'tiny', ctx: 64, cand: 64, batch: 2, k: 16 },
  small: { vocab: 30522, bert: 'small', ctx: 64, cand: 64, batch: 2, k: 16 },
} as const;
type Size = keyof typeof SIZES;
const BAR = 1.5;

const threads = Number(flagValue('threads', '2'));
const rounds = Number(flagValue('rounds', '2'));
const iters = Number(flagValue('iters', '3'));
const sizes = flagValue('sizes', 'tiny,small').split(',') as Size[];
setThreads(threads);

/** The peer's padding rule: context b real for ctx tokens (b even) or half; candidate j for cand - 1 (j even) or half. */
function batch(size: Size) {
  const z = SIZES[size];
  const r = mulberry32(3);
  const id = () => 1 + Math.floor(r() * (z.vocab - 1));
  const contexts = new Int32Array(z.batch * z.ctx);
  const candidates = new Int32Array(z.batch * z.k * z.cand);
  for (let b = 0; b < z.batch; b++) {
    const c = b % 2 === 0 ? z.ctx : Math.floor(z.ctx / 2);
    for (let t = 0; t < c; t++) contexts[b * z.ctx + t] = id();
    for (let j = 0; j < z.k; j++) {
      const n = j % 2 === 0 ? z.cand - 1 : Math.floor((z.cand - 1) / 2);
      // The candidate window's [CLS] (dropped by modify()) then n real tokens.
      const o = (b * z.k + j) * z.cand;
      candidates[o] = id();
      for (let t = 0; t < n; t++) candidates[o + 1 + t] = id();
    }
  }
  const pairs = pairInputs(contexts, z.ctx, candidates, z.cand, z.batch, z.k, {
    maxSeqLength: z.ctx + z.cand - 1,
    maxContextLength: z.ctx,
  });
  return { pairs, labels: new Int32Array(z.batch) };
}

interface Times {
  scoreMs: number;
  trainMs: number;
}

async function ours(size: Size): Promise<Times> {
  const z = SIZES[size];
  const cfg = sizedConfig(z.bert, z.vocab);
  const m = new CrossEncoder({ config: cfg, device: 'cpu' });
  const bert = m.encoder.bert;
  bert.parameters().upload(initBertParams(bert.layout, bert.numParameters, 1));
  m.encoder.linear!.init(mulberry32(2));
  const opt = new FlatAdamW('cpu', m.parts(), { patterns: null });
  const ws = new Workspace('cpu');
  const { pairs, labels } = batch(size);
  let seed = 1n;
  const scoreMs = await timeMs(
    `${size} score`,
    async () => {
      await crossStep(m, ws, pairs, z.k, labels, { dropout: false, grad: false, seed: 0n });
    },
    { iterations: iters, time: 0 },
  );
  const trainMs = await timeMs(
    `${size} train`,
    async () => {
      await crossStep(m, ws, pairs, z.k, labels, { dropout: true, grad: true, seed: seed++ });
      opt.clipGradNorm(1);
      opt.update(1e-5);
      m.zeroGrad();
    },
    { iterations: iters, time: 0 },
  );
  ws.dispose();
  opt.dispose();
  return { scoreMs, trainMs };
}

function peer(size: Size): (Times & { torch: string; attention: string }) | { error: string } {
  const z = SIZES[size],
    cfg = sizedConfig(z.bert, z.vocab);
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'cross_torch.py');
  const num = {
    vocab: z.vocab,
    hidden: cfg.hiddenSize,
    layers: cfg.numLayers,
    heads: cfg.numHeads,
    intermediate: cfg.intermediateSize,
    ctx: z.ctx,
    cand: z.cand,
    batch: z.batch,
    k: z.k,
    iters,
    threads,
  };
  const args = [script, ...Object.entries(num).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').split('\n').filter(Boolean).slice(-1)[0] ?? 'failed' };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Times & { torch: string; attention: string };
}

function peerAvailable(): boolean {
  if (hasFlag('no-peer')) return false;
  return spawnSync('python3', ['-c', 'import torch, transformers'], { encoding: 'utf8' }).status === 0;
}

const min = (xs: number[]): number => Math.min(...xs);

async function main(): Promise<void> {
  const withPeer = peerAvailable();
  const results: Record<string, unknown>[] = [];
  const rows: Array<Record<string, string | number>> = [];
  for (const size of sizes) {
    const z = SIZES[size];
    const mine: Times[] = [];
    const theirs: Array<Times & { torch: string; attention: string }> = [];
    const errors: string[] = [];
    for (let r = 0; r < rounds; r++) {
      mine.push(await ours(size));
      if (withPeer) {
        const p = peer(size);
        if ('error' in p) errors.push(p.error);
        else theirs.push(p);
      }
    }
    const o = { scoreMs: min(mine.map((x) => x.scoreMs)), trainMs: min(mine.map((x) => x.trainMs)) };
    const t = theirs.length ? { scoreMs: min(theirs.map((x) => x.scoreMs)), trainMs: min(theirs.map((x) => x.trainMs)) } : undefined;
    const pairsPerBatch = z.batch * z.k;
    results.push({
      size,
      ...z,
      seq: z.ctx + z.cand - 1,
      threads,
      rounds,
      iters,
      ours: mine,
      torch: theirs,
      errors,
      scoreRatio: t ? t.scoreMs / o.scoreMs : null,
      trainRatio: t ? t.trainMs / o.trainMs : null,
      bar: BAR,
      meetsBar: t ? t.scoreMs / o.scoreMs >= BAR && t.trainMs / o.trainMs >= BAR : null,
    });
    rows.push({
      size,
      pairs: pairsPerBatch,
      'ours score ms': o.scoreMs,
      'torch score ms': t?.scoreMs ?? '-',
      'x score': t ? t.scoreMs / o.scoreMs : '-',
      'ours train ms': o.trainMs,
      'torch train ms': t?.trainMs ?? '-',
      'x train': t ? t.trainMs / o.trainMs : '-',
    });
    if (errors.length) console.error(`${size}: peer errors: ${errors.join('; ')}`);
  }
  console.log(table(rows));
  const path = writeResult('cross-cpu.json', {
    machine: machine(),
    bar: `>= ${BAR}x PyTorch (HF BertModel + Linear) at tiny and small, scoring and training`,
    results,
  });
  console.log(`wrote ${path}`);
}

await main();
