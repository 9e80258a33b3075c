// One forward (+ backward) of the cross-encoder on the op table: every (context, candidate) pair of
// B mentions scored by one BERT, scores [B, k], mean cross-entropy against the gold's position
// (CrossEncoderRanker.forward). When the B*k pairs exceed `maxPairs` they go through in chunks:
// a first pass scores every chunk without keeping activations, the loss gradient is taken on the
// whole [B, k], then each chunk runs again with the same dropout seed, keeping what backward
// needs, and its slice of dScores goes back through it.
import { trimPairs, type PairBatch } from '../data/cross-inputs.js';
import { engineFor } from '../engine.js';
import type { CrossEncoder } from '../models/crossencoder.js';
import type { Workspace } from '../models/workspace.js';
import type { BackwardRunner } from '../comm/grad-overlap.js';

export interface CrossStepOptions {
  /** Dropout on. */
  dropout: boolean;
  /** Accumulate gradients. */
  grad: boolean;
  seed: bigint;
  /** Multiplies the gradient (1 / gradient_accumulation_steps). */
  lossScale?: number;
  /** Pairs per BERT call (default: all at once). */
  maxPairs?: number;
  /** The last chunk's backward goes through it: a data-parallel update step's all-reduce (comm/grad-overlap.ts). */
  reduce?: BackwardRunner;
}

export interface CrossStepResult {
  /** Mean cross-entropy over the mentions. */
  loss: number;
  /** Scores [mentions, k] on the host. */
  scores: Float32Array;
}

function slice(b: PairBatch, r0: number, r1: number): PairBatch {
  const s = b.seq;
  return trimPairs({
    ids: b.ids.subarray(r0 * s, r1 * s),
    typeIds: b.typeIds.subarray(r0 * s, r1 * s),
    mask: b.mask.subarray(r0 * s, r1 * s),
    rows: r1 - r0,
    seq: s,
  });
}

export async function crossStep(
  m: CrossEncoder,
  ws: Workspace,
  pairs: PairBatch,
  k: number,
  labels: Int32Array,
  o: CrossStepOptions,
): Promise<CrossStepResult> {
  const B = labels.length;
  const rows = B * k;
  if (pairs.rows !== rows) throw new Error(`cross step: ${pairs.rows} pair rows for ${B} mentions x ${k}`);
  for (const l of labels) if (!(l >= 0 && l < k)) throw new Error(`cross step: gold position ${l} outside 0..${k - 1}`);
  const eng = engineFor(m.device);
  const chunk = Math.max(1, Math.min(rows, o.maxPairs ?? rows));
  const chunks: [number, number][] = [];
  for (let r = 0; r < rows; r += chunk) chunks.push([r, Math.min(rows, r + chunk)]);
  const seedOf = (c: number): bigint => o.seed + BigInt(c) * 0x9e3779b9n;
  const tok = (b: PairBatch) => ({ ids: b.ids, typeIds: b.typeIds, rows: b.rows, seq: b.seq });

  const scores = ws.get('xscores', 'f32', [B, k]);
  const one = chunks.length === 1;
  if (one) {
    const s = await m.score(tok(slice(pairs, 0, rows)), { dropout: o.dropout, grad: o.grad, seed: seedOf(0) });
    scores.copyFrom(ws.view(s, 0, [B, k]));
  } else {
    const host = new Float32Array(rows);
    for (let c = 0; c < chunks.length; c++) {
      const [r0, r1] = chunks[c]!;
      const s = await m.score(tok(slice(pairs, r0, r1)), { dropout: o.dropout, grad: false, seed: seedOf(c) });
      host.set(s.download() as Float32Array, r0);
    }
    scores.upload(host);
  }
  const t = ws.ints('xtargets', [B], labels);
  const losses = ws.get('xlosses', 'f32', [B]);
  eng.crossEntropy(scores, t, losses);
  let sum = 0;
  for (const x of losses.download() as Float32Array) sum += x;
  const hostScores = scores.download() as Float32Array;
  if (o.grad) {
    const dl = ws.get('xdloss', 'f32', [B]);
    eng.fill(dl, (o.lossScale ?? 1) / B);
    const ds = ws.get('xdscores', 'f32', [B, k]);
    eng.crossEntropyBackward(scores, t, dl, ds);
    if (one) await m.backward(ws.view(ds, 0, [rows, 1]), o.reduce);
    else
      for (let c = 0; c < chunks.length; c++) {
        const [r0, r1] = chunks[c]!;
        await m.score(tok(slice(pairs, r0, r1)), { dropout: o.dropout, grad: true, seed: seedOf(c) });
        await m.backward(ws.view(ds, r0, [r1 - r0, 1]), c === chunks.length - 1 ? o.reduce : undefined);
      }
  }
  return { loss: sum / B, scores: hostScores };
}
