// The in-batch step of one rank of a data-parallel run whose negatives are the whole global batch
// (large-batch contrastive training): candidate embeddings are all-gathered, each rank scores its
// own context rows against all of them, and the gradient w.r.t. the gathered embeddings (every
// rank's rows contribute to every candidate) is summed over the ranks, each rank taking its own
// slice back into its candidate encoder. With the loss scaled by the rank's share of the batch,
// the summed gradients equal the single-process step on the whole batch.
import type { Communicator } from '../comm/communicator.js';
import { shardOf } from '../comm/data-parallel.js';
import { gatherShards } from '../comm/gather-shards.js';
import { engineFor } from '../engine.js';
import type { NativeTensor } from '../native.js';
import type { BiEncoder, TokenBatch } from '../models/biencoder.js';
import type { Workspace } from '../models/workspace.js';
import { lossAndGrad, type ContextInput, type StepOptions, type StepResult } from './biencoder-step.js';

/**
 * `ctx` and `cand` are this rank's rows [shard.lo, shard.hi) of a `globalRows`-row batch (shardOf's
 * split; possibly none). Every rank must call it for every step, also with no rows.
 */
export async function globalInBatchStep(
  comm: Communicator,
  m: BiEncoder,
  ws: Workspace,
  ctx: ContextInput | undefined,
  cand: TokenBatch | undefined,
  globalRows: number,
  o: StepOptions,
): Promise<StepResult> {
  const eng = engineFor(m.device);
  const E = m.embedDim,
    G = globalRows;
  const { lo, hi } = shardOf(G, comm.rank, comm.size);
  const b = hi - lo;
  if ((cand?.rows ?? 0) !== b) throw new Error(`global negatives: ${cand?.rows ?? 0} candidate rows for shard [${lo}, ${hi})`);
  const e = b > 0 ? await m.encode('candidate', cand!, o.train, o.seed + 1n) : undefined;
  const all = gatherShards(comm, G, E, e?.download() as Float32Array | undefined);
  const eAll = ws.get('gcand', 'f32', [G, E]);
  eAll.upload(all);
  let loss = 0;
  let scores: Float32Array = new Float32Array(0);
  const targets = Int32Array.from({ length: b }, (_, i) => lo + i);
  let dAll: Float32Array = new Float32Array(o.train ? G * E : 0);
  let dc: NativeTensor | undefined;
  const c = b > 0 ? ('tokens' in ctx! ? await m.encode('context', ctx.tokens, o.train, o.seed) : ctx!.features) : undefined;
  if (c) {
    const sc = ws.get('gscores', 'f32', [b, G]);
    eng.gemm(c, eAll, sc, { transB: true });
    const r = lossAndGrad(ws, sc, b, G, targets, o);
    loss = r.loss;
    scores = r.hostScores;
    if (r.dScores) {
      dc = ws.get('gdctx', 'f32', [b, E]);
      const de = ws.get('gdall', 'f32', [G, E]);
      eng.gemm(r.dScores, eAll, dc); // dC = dS E_all
      eng.gemm(r.dScores, c, de, { transA: true }); // dE_all = dS^T C: this rank's part of every candidate's gradient
      dAll = de.download() as Float32Array;
    }
  }
  if (o.train) {
    comm.allreduceSum(dAll);
    if (b > 0) {
      const de = ws.get('gdcand', 'f32', [b, E]);
      de.upload(dAll.subarray(lo * E, hi * E));
      if ('tokens' in ctx!) await m.backward('context', dc!, o.reduce);
      await m.backward('candidate', de, o.reduce);
    }
  }
  return { loss, scores, rows: b, cols: G, targets };
}
