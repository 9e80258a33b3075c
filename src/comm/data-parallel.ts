// The pieces of data-parallel training every trainer shares: which rows of a global batch a rank
// takes, the gradient all-reduce, identical start weights, and decisions all ranks must agree on.
import type { ParamPart } from '../models/biencoder.js';
import type { Communicator } from './communicator.js';

/** Rank `rank`'s contiguous rows [lo, hi) of a `rows`-row global batch (ceil-sized chunks; the last ranks may get fewer, or none). */
export function shardOf(rows: number, rank: number, size: number): { lo: number; hi: number } {
  const chunk = Math.ceil(rows / size);
  const lo = Math.min(rows, rank * chunk);
  return { lo, hi: Math.min(rows, lo + chunk) };
}

/**
 * Sums every part's gradient buffer over the ranks, in place. Each rank's loss is scaled by its
 * share of the global batch (rows / global rows), so the sum is the gradient of the global batch's
 * mean loss: the average DDP takes, also when the shards are uneven.
 */
export function reduceGradients(comm: Communicator, parts: readonly ParamPart[]): void {
  for (const p of parts) comm.allreduceSumTensor(p.grads);
}

/** Rank 0's parameters into every rank (a run starts from identical weights, as DDP's broadcast). */
export function broadcastParameters(comm: Communicator, parts: readonly ParamPart[]): void {
  if (comm.size === 1) return;
  for (const p of parts) {
    const host = p.params.download() as Float32Array;
    comm.broadcast(host, 0);
    p.params.upload(host);
  }
}

/** The global batch's mean loss from each rank's mean over its own rows. */
export function globalMeanLoss(comm: Communicator, localMean: number, localRows: number): number {
  if (comm.size === 1) return localMean;
  const a = new Float64Array([localRows > 0 ? localMean * localRows : 0, localRows]);
  comm.allreduceSum(a);
  return a[0]! / a[1]!;
}

/** True on every rank when any rank saw a stop request (a signal may reach the ranks at different steps). */
export function anyRank(comm: Communicator, flag: boolean): boolean {
  if (comm.size === 1) return flag;
  const a = new Float64Array([flag ? 1 : 0]);
  comm.allreduceMax(a);
  return a[0]! > 0;
}
