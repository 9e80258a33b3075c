// One step of SapBERT's self-alignment pretraining (cambridgeltl/sapbert src/metric_learning.py,
// `--pairwise --loss ms_loss --use_miner --agg_mode cls`), written on the op table: one BERT
// encodes both names of every pair (one forward over [left; right]: rows are independent), the
// [CLS] vectors [2B, H] with labels [y; y] are L2-normalised, sim = Xn Xn^T, and the engine's
// multi-similarity loss with the TripletMarginMiner("all", 0.2) masks (pytorch_metric_learning's
// MultiSimilarityLoss(1, 60, 0.5) over cosine similarity, mean over the 2B anchors) gives the
// loss and dsim. Backward: dXn = (dsim + dsim^T) Xn, then through the normalisation and the BERT.
import { engineFor, type Engine, type MsLossOptions } from '../engine.js';
import { backwardThrough, type BackwardRunner } from '../comm/grad-overlap.js';
import type { Bert } from '../models/bert.js';
import { paddingMask } from '../models/biencoder.js';
import type { Workspace } from '../models/workspace.js';
import type { NativeTensor } from '../native.js';

export interface MsResult {
  /** Mean of the anchors' losses. */
  loss: number;
  /** d(loss * lossScale)/d(embeddings) [M, H] (with grad; overwritten by the next call). */
  dEmb?: NativeTensor;
}

/**
 * The multi-similarity loss of embeddings [M, H] (not yet normalised) with `labels` [M], and with
 * `grad` its gradient w.r.t. the embeddings, scaled by `lossScale`.
 */
export function msLossAndGrad(
  ws: Workspace,
  emb: NativeTensor,
  labels: Int32Array,
  o: { grad: boolean; lossScale?: number; loss?: MsLossOptions; engine?: Engine },
): MsResult {
  // The engine may be another backend on the same memory (tests: ref on host tensors).
  const eng = o.engine ?? engineFor(ws.device);
  const [M, H] = emb.shape as [number, number];
  if (labels.length !== M) throw new Error(`ms loss: ${labels.length} labels for ${M} embeddings`);
  const xn = ws.get('ms.xn', 'f32', [M, H]);
  const norms = ws.get('ms.norms', 'f32', [M]);
  eng.l2Normalize(emb, xn, norms);
  const sim = ws.get('ms.sim', 'f32', [M, M]);
  eng.gemm(xn, xn, sim, { transB: true });
  const lab = ws.ints('ms.labels', [M], labels);
  const losses = ws.get('ms.loss', 'f32', [M]);
  const dsim = ws.get('ms.dsim', 'f32', [M, M]);
  // The mean over anchors: dsim = d(mean)/d sim, times the accumulation scale.
  eng.multiSimilarityLoss(sim, lab, losses, dsim, { ...o.loss, scale: (o.lossScale ?? 1) / M });
  let sum = 0;
  for (const x of losses.download() as Float32Array) sum += x;
  if (!o.grad) return { loss: sum / M };
  // sim = Xn Xn^T: dXn = dsim Xn + dsim^T Xn.
  const dxn = ws.get('ms.dxn', 'f32', [M, H]);
  eng.gemm(dsim, xn, dxn);
  eng.gemm(dsim, xn, dxn, { transA: true, beta: 1 });
  const dEmb = ws.get('ms.demb', 'f32', [M, H]);
  eng.l2NormalizeBackward(xn, norms, dxn, dEmb);
  return { loss: sum / M, dEmb };
}

/** A batch of pairs: ids [rows, seq] of each side (0-padded), and the concept label of each pair. */
export interface PairBatch {
  left: Int32Array;
  right: Int32Array;
  rows: number;
  seq: number;
  labels: Int32Array;
}

export interface SynonymStepOptions {
  /** Backward too (and dropout on). */
  train: boolean;
  seed: bigint;
  lossScale?: number;
  /** The backward goes through it: a data-parallel step's all-reduce (comm/grad-overlap.ts). */
  reduce?: BackwardRunner;
}

/** The labels of a batch's [left; right] rows: [y; y]. */
export function pairLabels(labels: Int32Array): Int32Array {
  const both = new Int32Array(2 * labels.length);
  both.set(labels, 0);
  both.set(labels, labels.length);
  return both;
}

/** The [CLS] vectors [2 rows, H] of a batch's [left; right] names: one BERT forward (with train, kept for backward). */
export async function encodePairs(bert: Bert, b: PairBatch, o: SynonymStepOptions): Promise<NativeTensor> {
  const n = b.rows * b.seq;
  if (b.left.length !== n || b.right.length !== n || b.labels.length !== b.rows)
    throw new Error(`synonym step: expected ${b.rows} rows of ${b.seq} ids a side and ${b.rows} labels`);
  const ids = new Int32Array(2 * n);
  ids.set(b.left, 0);
  ids.set(b.right, n);
  const out = await bert.forwardAsync({
    inputIds: ids,
    attentionMask: paddingMask(ids),
    batch: 2 * b.rows,
    seq: b.seq,
    train: o.train,
    grad: o.train,
    seed: o.seed,
    clsOnly: true, // agg_mode cls: only the last layer's [CLS] row is used
  });
  return out.cls;
}

/** Forward (+ backward into the BERT's gradients) of one batch of pairs; returns the mean loss. */
export async function synonymStep(bert: Bert, ws: Workspace, b: PairBatch, o: SynonymStepOptions): Promise<number> {
  const cls = await encodePairs(bert, b, o);
  const r = msLossAndGrad(ws, cls, pairLabels(b.labels), { grad: o.train, lossScale: o.lossScale ?? 1 });
  if (r.dEmb) await backwardThrough(o.reduce, bert, { dCls: r.dEmb });
  return r.loss;
}
