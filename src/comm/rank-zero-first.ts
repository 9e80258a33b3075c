// Work that rank 0 must do before the other ranks may (it writes what they then only read), with
// every rank learning whether it succeeded, so none waits in a collective that never comes.
import type { Communicator } from './communicator.js';

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
