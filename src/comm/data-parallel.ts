// The pieces of data-parallel training every trainer shares: which rows of a global batch a rank
// takes, the gradient all-reduce, identical start weights, and decisions all ranks must agree on.
import { engineFor } from '../engine.js';
import type { ParamPart } from '../models/biencoder.js';
import type { Communicator } from './communicator.js';
import { CommunicatorUnavailableError } from './errors.js';
import { NcclCommunicator } from './nccl.js';

/** Rank `rank`'s contiguous rows [lo, hi) of a `rows`-row global batch (ceil-sized chunks; the last ranks may get fewer, or none). */
export function shardOf(rows: number, rank: number, size: number): { lo: number; hi: number } {
  const chunk = Math.ceil(rows / size);
  const lo = Math.min(rows, rank * chunk);
  return { lo, hi: Math.min(rows, lo + chunk) };
}

/**
 * Sums every part's gradient buffer over the ranks, in place. Each rank's loss is scaled by its
 * share of the global batch (rows / global rows), so the sum is the gradient of the global batch's
 * mean loss: the average DDP takes, also when the shards are uneven. CUDA buffers go through
 * NCCL when `device` is given, else through host memory over MPI.
 */
export function reduceGradients(comm: Communicator, parts: readonly ParamPart[], device?: NcclCommunicator): void {
  for (const p of parts) {
    if (device) device.allreduceSum(p.grads);
    else comm.allreduceSumTensor(p.grads);
  }
}

/**
 * The NCCL communicator of a multi-rank run whose model is on CUDA, or undefined (a single
 * process, a host model, or no libnccl on some rank: the reason goes to `say` and the gradients
 * are then staged through host memory over MPI).
 */
export function openDeviceComm(comm: Communicator, device: 'cpu' | 'cuda', say: (line: string) => void): NcclCommunicator | undefined {
  if (comm.size === 1 || device !== 'cuda') return undefined;
  try {
    return NcclCommunicator.open(comm);
  } catch (e) {
    if (!(e instanceof CommunicatorUnavailableError)) throw e;
    say(`gradients are all-reduced through host memory over MPI: ${e.message}`);
    return undefined;
  }
}

/** The run log's `ranks` line of a multi-rank run (rank, size, library, how gradients travel). */
export function logRanks(
  log: { log(event: string, fields: Record<string, string | number>): void },
  comm: Communicator,
  deviceComm: NcclCommunicator | undefined,
  extra: Record<string, string> = {},
): void {
  if (comm.size === 1) return;
  log.log('ranks', {
    rank: comm.rank,
    size: comm.size,
    library: comm.library,
    gradients: deviceComm ? deviceComm.library : 'host memory over MPI',
    ...extra,
  });
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

/**
 * reduceGradients for a step whose loss each rank took as the mean over its own rows (the GAN's
 * critic and generator): the buffers are first scaled by the rank's share of the global rows, so
 * the sum is the gradient of the global batch's mean. A single process is left untouched.
 */
export function reduceShareOfGradients(comm: Communicator, parts: readonly ParamPart[], share: number, device?: NcclCommunicator): void {
  if (comm.size === 1) return;
  for (const p of parts) engineFor(p.grads.device === 'cuda' ? 'cuda' : 'cpu').scale(p.grads, p.grads, share);
  reduceGradients(comm, parts, device);
}

/** Several per-row means of the global batch at once, from each rank's means over its own rows (one collective). */
export function globalMeans(comm: Communicator, localMeans: readonly number[], localRows: number): number[] {
  if (comm.size === 1) return [...localMeans];
  const a = new Float64Array(localMeans.length + 1);
  localMeans.forEach((m, i) => (a[i] = localRows > 0 ? m * localRows : 0));
  a[localMeans.length] = localRows;
  comm.allreduceSum(a);
  const rows = a[localMeans.length]!;
  return localMeans.map((_, i) => a[i]! / rows);
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
