// What a training stage does differently on the ranks of a data-parallel run (mpirun): rank 0
// locks the output folder, builds the token caches and writes the run's log; the other ranks wait
// for the caches, then open them, and log to <output>/ranks/rank<r>/ (their own lines only).
import { join } from 'node:path';

import { Communicator } from '../comm/communicator.js';
import type { DistNegatives } from '../settings/types.js';
import { withOutputLock } from './output-lock.js';

export { rankZeroFirst } from '../comm/rank-zero-first.js';

/** The run's communicator: MPI when a launcher started several ranks, else a single process (no libmpi loaded). */
export function runCommunicator(): Communicator {
  return Communicator.open();
}

/** Rank 0 holds the output lock for the whole run; the other ranks run inside it. */
export function withRankOutputLock<T>(comm: Communicator, dir: string, stage: string, fn: () => Promise<T>): Promise<T> {
  return comm.rank === 0 ? withOutputLock(dir, stage, fn) : fn();
}

/** Where a rank's session log goes: the output folder (rank 0) or <output>/ranks/rank<r>. */
export function rankLogDir(comm: Communicator, out: string): string {
  return comm.rank === 0 ? out : join(out, 'ranks', `rank${comm.rank}`);
}

/**
 * What every training stage hands its trainer from its settings alike: the output folder, the
 * tokenizer's vocabulary and case, resume, and the data-parallel run (ranks, negatives, buckets).
 */
export function trainerRunFields(
  s: { outputPath: string; resume?: boolean | undefined; distNegatives?: DistNegatives | undefined; bucketCapMb?: number | undefined },
  tok: { vocabPath?: string | undefined; lowercase: boolean },
  comm: Communicator,
) {
  return {
    outputPath: s.outputPath,
    vocabPath: tok.vocabPath,
    lowercase: tok.lowercase,
    resume: s.resume,
    comm,
    distNegatives: s.distNegatives,
    bucketCapMb: s.bucketCapMb,
  };
}
