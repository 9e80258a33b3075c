// Host waits on the CUDA device inside one train step (issue 21, item 2), as the runtime counts
// them (native/core/device.h: device synchronisations, blocking device-to-host copies, uploads
// that wait). Each one stalls the host until the queued work drains, so a step may wait only
// where its result must reach the host: its loss read-back (and the clip norm the host decides
// on). Its inputs go up through page-locked staging without a wait; the kernels' index-check slot
// rides on the read-backs. The counts are printed for the GPU notes.
import { describe, expect, it } from 'vitest';

import { BiEncoder, type TokenBatch } from '../src/models/biencoder.js';
import { DescriptionEncoder, Gan } from '../src/models/gan.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { mulberry32 } from '../src/models/rng.js';
import { Workspace } from '../src/models/workspace.js';
import { cudaSyncCounts, tensor, type CudaSyncCounts } from '../src/native.js';
import { inBatchStep } from '../src/train/biencoder-step.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import { GanTrainer, type GanRun, type GanTrainSettings } from '../src/train/train-gan.js';
import { cudaReason, hasCuda, testsDevice } from './support/backends.js';

const VOCAB = 500;
const cfg = sizedConfig('tiny', VOCAB, 64);

function tokens(rows: number, seq: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  return {
    ids: Int32Array.from({ length: rows * seq }, (_, i) => (i % seq >= seq - 2 && i >= seq ? 0 : 1 + Math.floor(r() * (VOCAB - 1)))),
    rows,
    seq,
  };
}

/** The waits `fn` made, from the counters before and after. */
async function waits(fn: () => Promise<void>): Promise<CudaSyncCounts> {
  const a = cudaSyncCounts();
  await fn();
  const b = cudaSyncCounts();
  return { device: b.device - a.device, d2h: b.d2h - a.d2h, h2d: b.h2d - a.h2d };
}

if (!hasCuda) console.warn(`host syncs per step: cuda variant skipped: ${cudaReason}`);
describe.skipIf(!hasCuda || !testsDevice('cuda'))('host waits inside one cuda train step (cuemu counts them as a GPU would)', () => {
  it('cuda bi-encoder in-batch step (forward, backward, clip, AdamW): no device sync; the loss and the clip norm read back; uploads without a wait', async () => {
    const m = new BiEncoder({ config: cfg, device: 'cuda' });
    const init = initBertParams(m.context.bert.layout, m.context.bert.numParameters, 1);
    m.context.bert.parameters().upload(init);
    m.candidate.bert.parameters().upload(init);
    const ws = new Workspace('cuda');
    const opt = new FlatAdamW('cuda', m.parts(), { patterns: null });
    const ctx = tokens(4, 16, 1),
      cand = tokens(4, 16, 2);
    let seed = 1n;
    const step = async () => {
      m.zeroGrad();
      const r = await inBatchStep(m, ws, { tokens: ctx }, cand, { train: true, seed: seed++ });
      expect(Number.isFinite(r.loss)).toBe(true);
      opt.clipGradNorm(1.0);
      opt.update(3e-5);
    };
    await step(); // warm-up: workspace and scratch allocation
    const w = await waits(step);
    console.log(`cuda bi-encoder in-batch step, host waits: ${JSON.stringify(w)}`);
    expect(w.device).toBe(0);
    // The loss and scores (one copy, after the backward is queued), and the gradient norm the clip decides on.
    expect(w.d2h).toBeLessThanOrEqual(2);
    expect(w.h2d).toBe(0);
    opt.dispose();
    ws.dispose();
  });

  it('cuda GAN step (5 critic steps + 1 generator step, E frozen but for weight decay): no device sync; one read-back per critic and generator step', async () => {
    const enc = new DescriptionEncoder(cfg, 'cuda');
    enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, 1));
    const gan = new Gan(enc, cfg.hiddenSize, 'cuda');
    gan.initMlps(2);
    const B = 4;
    const run: GanRun = {
      biencoder: { embedDim: cfg.hiddenSize } as BiEncoder, // step() reads only its size
      gan,
      train: undefined as never,
      val: undefined as never,
      outputPath: '',
    };
    const s: GanTrainSettings = {
      learningRate: 5e-5,
      numTrainEpochs: 1,
      trainBatchSize: B,
      evalBatchSize: B,
      criticIters: 5,
      typeOptimization: 'all_encoder_layers',
      seed: 1,
      saveEvery: 10,
      startSaving: 20,
      shuffle: true,
      mseWeight: 0,
      condGrad: 'original',
    };
    const t = new GanTrainer(run, s);
    const r = mulberry32(3);
    t.real = tensor(
      'cuda',
      'f32',
      [B, cfg.hiddenSize],
      Float32Array.from({ length: B * cfg.hiddenSize }, () => r()),
    );
    const desc = tokens(B, 16, 4),
      ex = Int32Array.from({ length: B }, (_, i) => i);
    await t.stepOn(desc, ex, 0, 0);
    const w = await waits(async () => {
      const l = await t.stepOn(desc, ex, 0, 1);
      expect(l.disc.every(Number.isFinite) && Number.isFinite(l.gen)).toBe(true);
    });
    console.log(`cuda GAN step (5 critic + 1 generator), host waits: ${JSON.stringify(w)}`);
    expect(w.device).toBe(0);
    // Critic: D's outputs and the penalty norms in one copy (the loss check before D's update); generator: its loss and MSE.
    const K = s.criticIters;
    expect(w.d2h).toBeLessThanOrEqual(K + 1);
    expect(w.h2d).toBe(0); // E's tokens, G's noise, the interpolation weights: staged, no wait
    t.dispose();
  });
});
