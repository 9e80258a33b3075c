// What every data-parallel trainer does to keep its ranks together: a stop that all ranks agree
// on (a signal reaches them at different steps), and ending the whole job when one rank fails
// alone (the others would wait for it in their next collective).
import type { Communicator } from '../comm/communicator.js';
import { anyRank } from '../comm/data-parallel.js';
import { AbortError, NonFiniteError, SettingsError } from '../errors.js';
import type { StopSource } from './interrupt.js';

/**
 * A stop source whose request every rank agrees on (`update` runs the vote after each step, on
 * every rank), so that all ranks leave at the same step.
 */
export function agreedStop(comm: Communicator, own: StopSource | undefined): { source: StopSource | undefined; update: () => void } {
  // Every rank takes part in the vote, also one without a stop source of its own.
  if (comm.size === 1) return { source: own, update: () => {} };
  let agreed = false;
  const source: StopSource = {
    get requested() {
      return agreed;
    },
    checkpointIfRequested: async (save, hint) => {
      if (!agreed) return;
      // The rank that got the request stops with its own error; the others with this one. The
      // checkpoint is written once, by rank 0 (save is a no-op elsewhere), whichever got it.
      if (own?.requested) return own.checkpointIfRequested(save, hint);
      await save();
      throw new AbortError(`rank ${comm.rank}: stopped with the other ranks (a stop was requested on one of them)`, hint);
    },
  };
  return { source, update: () => (agreed = anyRank(comm, own?.requested ?? false)) };
}

/**
 * Runs a multi-rank trainer; a failure other than a stop, a non-finite global loss or a settings
 * error (those every rank meets at the same point) may be this rank's alone, so it ends the job.
 */
export async function failTogether<T>(comm: Communicator, train: () => Promise<T>): Promise<T> {
  try {
    return await train();
  } catch (e) {
    if (comm.size > 1 && !(e instanceof AbortError || e instanceof NonFiniteError || e instanceof SettingsError))
      comm.abortJob(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    throw e;
  }
}
