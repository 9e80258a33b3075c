// The entity pool on the ranks of a multi-rank run (mpirun): each rank encodes a contiguous run of
// whole encode batches (shardOf over the pool's batches, not its rows, so every entity is encoded
// in the very batch one process would put it in: the gathered pool is bitwise the single
// process's wherever a batch's result does not depend on the rank, e.g. same kernels and thread
// count), and the batches are all-gathered one round at a time, so host memory holds one batch
// per rank, never the whole pool.
import type { Communicator } from '../comm/communicator.js';
import { shardOf } from '../comm/data-parallel.js';

export interface RankEncode {
  rows: number;
  dim: number;
  batchSize: number;
  /** Rows [start, start + n) through the encoder: n * dim f32 values (its output as downloaded). */
  encode(start: number, n: number): Promise<Float32Array>;
  /** Called on every rank for every batch of every rank, in rank order within a round. */
  place(start: number, values: Float32Array): void;
  onProgress?: (done: number, total: number) => void;
}

/** Encode batch b's rows on the rank that owns it; every rank places all of them. */
export async function encodeOnRanks(comm: Communicator, e: RankEncode): Promise<void> {
  const { rows, dim, batchSize } = e;
  const batches = Math.ceil(rows / batchSize);
  const shards = Array.from({ length: comm.size }, (_, k) => shardOf(batches, k, comm.size));
  const rounds = Math.ceil(batches / comm.size); // shardOf's chunk: the most batches a rank has
  const stride = batchSize * dim;
  // Collectives need equal lengths: a short last batch, or none, is padded (and dropped below).
  const send = new Float32Array(stride);
  let done = 0;
  for (let j = 0; j < rounds; j++) {
    const b = shards[comm.rank]!.lo + j;
    send.fill(0);
    if (b < shards[comm.rank]!.hi) {
      const start = b * batchSize;
      const n = Math.min(batchSize, rows - start);
      const v = await e.encode(start, n);
      if (v.length !== n * dim) throw new Error(`entity pool: the encoder gave ${v.length} values for ${n} rows of ${dim}`);
      send.set(v);
    }
    const all = comm.allgather(send);
    shards.forEach((s, k) => {
      const bk = s.lo + j;
      if (bk >= s.hi) return;
      const start = bk * batchSize;
      const n = Math.min(batchSize, rows - start);
      e.place(start, all.subarray(k * stride, k * stride + n * dim));
      done += n;
    });
    e.onProgress?.(done, rows);
  }
}

/**
 * Checks that every rank computed rank 0's pool key (ranks on other weights or other entities would
 * gather a pool of mixed models) and returns whether all of them can read the pool from the disk
 * cache: one rank without a usable file (e.g. an output folder not shared between nodes) makes
 * every rank encode, as they must take part in the same gathers.
 */
export function agreeOnPool(comm: Communicator, hash: string, cacheUsable: boolean): boolean {
  const own = Buffer.from(hash, 'hex');
  const root = new Uint8Array(own);
  comm.broadcast(root, 0);
  const votes = new Float64Array([own.equals(root) ? 0 : 1, cacheUsable ? 0 : 1]);
  comm.allreduceMax(votes);
  if (votes[0]! > 0)
    throw new Error(
      `entity pool: the ranks do not hold the same candidate encoder and entity cache (rank ${comm.rank}: key ${hash.slice(0, 16)}, rank 0: ${Buffer.from(root).toString('hex').slice(0, 16)}); every rank must load the same model and data`,
    );
  return votes[1] === 0;
}
