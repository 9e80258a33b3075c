// Work that rank 0 must do before the other ranks may (it writes what they then only read), with
// every rank learning whether it succeeded, so none waits in a collective that never comes.
import type { Communicator } from './communicator.js';

/** What these helpers use of a communicator. */
export type RankZeroComm = Pick<Communicator, 'rank' | 'size' | 'broadcast'>;

/**
 * Broadcasts rank 0's outcome (`failed`: its error, undefined when it succeeded): rank 0 rethrows
 * its own error, every other rank throws one saying that rank 0 could not `what`.
 */
function shareRankZeroOutcome(comm: RankZeroComm, failed: unknown, what: string): void {
  const ok = new Float64Array([comm.rank === 0 && failed !== undefined ? 0 : 1]);
  comm.broadcast(ok, 0);
  if (failed !== undefined) throw failed;
  if (ok[0] === 0) throw new Error(`rank ${comm.rank}: rank 0 could not ${what} (its error ends the run)`);
}

/** Rank 0 runs `open` first (it may write caches), then every other rank (they only read what it wrote). */
export async function rankZeroFirst<T>(comm: RankZeroComm, open: () => Promise<T>): Promise<T> {
  if (comm.size === 1) return open();
  let v: T | undefined;
  let failed: unknown;
  if (comm.rank === 0)
    try {
      v = await open();
    } catch (e) {
      failed = e;
    }
  shareRankZeroOutcome(comm, failed, 'open the data');
  return comm.rank === 0 ? v! : open();
}

/**
 * Runs `write` on rank 0 alone and returns on every rank once it is done, so that no rank looks
 * for what it writes before it is in place; when it failed, every rank throws.
 */
export function rankZeroOnly(comm: RankZeroComm, what: string, write: () => void): void {
  let failed: unknown;
  if (comm.rank === 0)
    try {
      write();
    } catch (e) {
      failed = e;
    }
  shareRankZeroOutcome(comm, failed, what);
}
