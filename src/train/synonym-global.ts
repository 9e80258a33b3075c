// The synonym step of one rank of a data-parallel run whose negatives are the whole global batch.
// SapBERT's multi-similarity loss is not a sum over the shards: every anchor's mined pairs range
// over the whole batch (and too few triplets mined zero the batch's loss). So each rank encodes its
// own pairs, the [CLS] vectors are all-gathered in the single process's [left; right] order, and
// every rank computes the loss and its gradient over the whole gathered batch (cheap next to the
// BERT: one 2G x 2G similarity), then backpropagates its own rows. No gradient exchange is needed
// here: each rank already holds the full-batch gradient of its rows, and the BERT gradients summed
// over the ranks (reduceGradients) are the single process's.
import type { Communicator } from '../comm/communicator.js';
import { shardOf } from '../comm/data-parallel.js';
import { gatherShards } from '../comm/gather-shards.js';
import { backwardThrough } from '../comm/grad-overlap.js';
import type { Bert } from '../models/bert.js';
import type { Workspace } from '../models/workspace.js';
import { encodePairs, msLossAndGrad, pairLabels, type PairBatch, type SynonymStepOptions } from './synonym-step.js';

/**
 * `mine` is this rank's pairs [lo, hi) of the global batch (shardOf's split; possibly none) and
 * `globalLabels` the concept of each of the batch's pairs. Returns the global batch's mean loss
 * (the same on every rank). Every rank must call it for every step, also with no pairs.
 */
export async function globalSynonymStep(
  comm: Communicator,
  bert: Bert,
  ws: Workspace,
  mine: PairBatch | undefined,
  globalLabels: Int32Array,
  o: SynonymStepOptions,
): Promise<number> {
  const G = globalLabels.length,
    H = bert.config.hiddenSize;
  const { lo, hi } = shardOf(G, comm.rank, comm.size);
  const b = hi - lo;
  if ((mine?.rows ?? 0) !== b) throw new Error(`global negatives: ${mine?.rows ?? 0} pairs for shard [${lo}, ${hi})`);
  const cls = mine ? await encodePairs(bert, mine, o) : undefined;
  const emb = ws.get('syn.gathered', 'f32', [2 * G, H]);
  emb.upload(gatherShards(comm, G, H, cls?.download() as Float32Array | undefined, 2));
  const r = msLossAndGrad(ws, emb, pairLabels(globalLabels), { grad: o.train && b > 0, lossScale: o.lossScale ?? 1 });
  if (r.dEmb) {
    // This rank's rows of the gradient: its left names at [lo, hi), its right names at [G + lo, G + hi).
    const d = ws.get('syn.dmine', 'f32', [2 * b, H]);
    ws.view(d, 0, [b, H]).copyFrom(ws.view(r.dEmb, lo * H, [b, H]));
    ws.view(d, b * H, [b, H]).copyFrom(ws.view(r.dEmb, (G + lo) * H, [b, H]));
    await backwardThrough(o.reduce, bert, { dCls: d });
  }
  return r.loss;
}
