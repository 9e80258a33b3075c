// The all-gathered global batch of a data-parallel step whose loss needs every rank's rows (global
// in-batch negatives): each rank holds its shardOf rows, every rank gets the whole batch in the
// single process's row order, so the loss over it is the single process's.
import type { Communicator } from './communicator.js';
import { shardOf } from './data-parallel.js';

/**
 * `mine` holds this rank's rows [lo, hi) of a `rows`-row batch (`width` values a row) as `blocks`
 * stacked blocks of hi - lo rows (a pair's two sides: 2); returns `blocks` stacked blocks of all
 * `rows` rows. Every rank must call it, also one with no rows (`mine` then unused).
 */
export function gatherShards(comm: Communicator, rows: number, width: number, mine: Float32Array | undefined, blocks = 1): Float32Array {
  const { lo, hi } = shardOf(rows, comm.rank, comm.size);
  const b = hi - lo;
  if (b > 0 && (mine?.length ?? 0) < blocks * b * width)
    throw new Error(`gather: ${mine?.length ?? 0} values for ${blocks} x ${b} rows of ${width} (shard [${lo}, ${hi}))`);
  // Fixed-size pieces (MPI_Allgather wants one count), the padding dropped after.
  const chunk = Math.ceil(rows / comm.size);
  const send = new Float32Array(blocks * chunk * width);
  for (let k = 0; k < blocks && b > 0; k++) send.set(mine!.subarray(k * b * width, (k + 1) * b * width), k * chunk * width);
  const gathered = comm.allgather(send);
  const all = new Float32Array(blocks * rows * width);
  for (let r = 0; r < comm.size; r++) {
    const s = shardOf(rows, r, comm.size);
    for (let k = 0; k < blocks; k++) {
      const at = (r * blocks + k) * chunk * width;
      all.set(gathered.subarray(at, at + (s.hi - s.lo) * width), (k * rows + s.lo) * width);
    }
  }
  return all;
}
