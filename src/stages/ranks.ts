// What a training stage does differently on the ranks of a data-parallel run (mpirun): rank 0
// locks the output folder, builds the token caches and writes the run's log; the other ranks wait
// for the caches, then open them, and log to <output>/ranks/rank<r>/ (their own lines only).
import { join } from 'node:path';

import { Communicator } from '../comm/communicator.js';
import { withOutputLock } from './output-lock.js';

/** The run's communicator: MPI when a launcher started several ranks, else a single process (no libmpi loaded). */
export function runCommunicator(): Communicator {
  return Communicator.open();
}

/** Rank 0 holds the output lock for the whole run; the other ranks run inside it. */
export function withRankOutputLock<T>(comm: Communicator, dir: string, stage: string, fn: () => Promise<T>): Promise<T> {
  return comm.rank === 0 ? withOutputLock(dir, stage, fn) : fn();
}

/** Rank 0 runs `open` first (it may write caches), then every other rank (they only read what it wrote). */
export async function rankZeroFirst<T>(comm: Communicator, open: () => Promise<T>): Promise<T> {
  if (comm.size === 1) return open();
  let v: T | undefined;
  let failed: unknown;
  if (comm.rank === 0)
    try {
      v = await open();
    } catch (e) {
      failed = e;
    }
  // Every rank learns whether rank 0 succeeded, so none waits in a collective that never comes.
  const ok = new Float64Array([comm.rank === 0 && failed !== undefined ? 0 : 1]);
  comm.broadcast(ok, 0);
  if (failed !== undefined) throw failed;
  if (ok[0] === 0) throw new Error(`rank ${comm.rank}: rank 0 could not open the data (its error ends the run)`);
  return comm.rank === 0 ? v! : open();
}

/** Where a rank's session log goes: the output folder (rank 0) or <output>/ranks/rank<r>. */
export function rankLogDir(comm: Communicator, out: string): string {
  return comm.rank === 0 ? out : join(out, 'ranks', `rank${comm.rank}`);
}
