// One forward (+ backward) of the bi-encoder losses, written out on the op table:
// in-batch: scores = C E^T [B, B], cross-entropy against the diagonal (BLINK random negatives);
// hard:     scores[b] = c_b . E_b^T over the b-th mention's k candidates, cross-entropy against
//           the gold's position.
import { engineFor } from '../engine.js';
import type { NativeTensor } from '../native.js';
import type { BiEncoder, TokenBatch } from '../models/biencoder.js';
import type { Workspace } from '../models/workspace.js';
import type { BackwardRunner } from '../comm/grad-overlap.js';

export interface StepOptions {
  /** Backward too (and dropout on). */
  train: boolean;
  /** Dropout seed of this step. */
  seed: bigint;
  /** Multiplies the gradient (1 / gradient_accumulation_steps). */
  lossScale?: number;
  /** The encoders' backward goes through it: a data-parallel update step's all-reduce (comm/grad-overlap.ts). */
  reduce?: BackwardRunner;
}

export interface StepResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Score rows [rows, cols] on the host (for accuracy). */
  scores: Float32Array;
  rows: number;
  cols: number;
  /** Target column of each row. */
  targets: Int32Array;
}

/**
 * Cross-entropy of `scores` [rows, cols] against `targets`, queued; with train, dScores in place of
 * the loss gradient. read() brings the losses and scores back in one download (on CUDA, one wait):
 * call it after queueing the rest of the step.
 */
export function queueLossAndGrad(ws: Workspace, scores: NativeTensor, rows: number, cols: number, targets: Int32Array, o: StepOptions) {
  const eng = engineFor(ws.device);
  const s2 = scores.view(0, [rows, cols]);
  const t = ws.constant('targets', 'i32', [rows], targets);
  // [scores | losses] in one buffer, read back together.
  const back = ws.get('xent.readback', 'f32', [rows * cols + rows]);
  ws.view(back, 0, [rows, cols]).copyFrom(s2);
  eng.crossEntropy(s2, t, ws.view(back, rows * cols, [rows]));
  let dScores: NativeTensor | undefined;
  if (o.train) {
    const dl = ws.get('dloss', 'f32', [rows]);
    eng.fill(dl, (o.lossScale ?? 1) / rows);
    dScores = ws.get('dscores', 'f32', [rows, cols]);
    eng.crossEntropyBackward(s2, t, dl, dScores);
  }
  const read = () => {
    const all = back.download() as Float32Array;
    let sum = 0;
    for (let i = rows * cols; i < all.length; i++) sum += all[i]!;
    return { loss: sum / rows, hostScores: all.subarray(0, rows * cols) };
  };
  return { dScores, read };
}

/** queueLossAndGrad, read at once. */
export function lossAndGrad(ws: Workspace, scores: NativeTensor, rows: number, cols: number, targets: Int32Array, o: StepOptions) {
  const q = queueLossAndGrad(ws, scores, rows, cols, targets, o);
  return { ...q.read(), dScores: q.dScores };
}

/** Context side embeddings, or given features (fine-tuning on generated features). */
export type ContextInput = { tokens: TokenBatch } | { features: NativeTensor };

export async function inBatchStep(m: BiEncoder, ws: Workspace, ctx: ContextInput, cand: TokenBatch, o: StepOptions): Promise<StepResult> {
  const eng = engineFor(m.device);
  const B = cand.rows,
    E = m.embedDim;
  const c = 'tokens' in ctx ? await m.encode('context', ctx.tokens, o.train, o.seed) : ctx.features;
  const e = await m.encode('candidate', cand, o.train, o.seed + 1n);
  const scores = ws.get('scores', 'f32', [B, B]);
  eng.gemm(c, e, scores, { transB: true });
  const targets = Int32Array.from({ length: B }, (_, i) => i);
  const r = queueLossAndGrad(ws, scores, B, B, targets, o);
  if (r.dScores) {
    const dc = ws.get('dctx', 'f32', [B, E]),
      de = ws.get('dcand', 'f32', [B, E]);
    eng.gemm(r.dScores, e, dc); // dC = dS E
    eng.gemm(r.dScores, c, de, { transA: true }); // dE = dS^T C
    if ('tokens' in ctx) await m.backward('context', dc, o.reduce);
    await m.backward('candidate', de, o.reduce);
  }
  const { loss, hostScores } = r.read(); // the step's one wait, with everything queued
  return { loss, scores: hostScores, rows: B, cols: B, targets };
}

/** cands: B*k candidate rows, the k of mention b at rows b*k..b*k+k-1; gold[b] = the gold's position. */
export async function hardStep(
  m: BiEncoder,
  ws: Workspace,
  ctx: ContextInput,
  cands: TokenBatch,
  k: number,
  gold: Int32Array,
  o: StepOptions,
): Promise<StepResult> {
  const eng = engineFor(m.device);
  const B = gold.length,
    E = m.embedDim;
  if (cands.rows !== B * k) throw new Error(`hard step: ${cands.rows} candidate rows for ${B} mentions x ${k}`);
  const c = 'tokens' in ctx ? await m.encode('context', ctx.tokens, o.train, o.seed) : ctx.features;
  const e = await m.encode('candidate', cands, o.train, o.seed + 1n);
  const scores = ws.get('hscores', 'f32', [B, 1, k]);
  const c3 = c.view(0, [B, 1, E]),
    e3 = e.view(0, [B, k, E]);
  eng.gemm(c3, e3, scores, { transB: true });
  const r = queueLossAndGrad(ws, scores, B, k, gold, o);
  if (r.dScores) {
    const ds3 = r.dScores.view(0, [B, 1, k]);
    const dc = ws.get('hdctx', 'f32', [B, 1, E]),
      de = ws.get('hdcand', 'f32', [B, k, E]);
    eng.gemm(ds3, e3, dc); // dc_b = ds_b E_b
    eng.gemm(ds3, c3, de, { transA: true }); // dE_b = ds_b^T c_b
    if ('tokens' in ctx) await m.backward('context', dc.view(0, [B, E]), o.reduce);
    await m.backward('candidate', de.view(0, [B * k, E]), o.reduce);
  }
  const { loss, hostScores } = r.read();
  return { loss, scores: hostScores, rows: B, cols: k, targets: gold };
}
