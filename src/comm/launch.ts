// How a process learns it is one of several: the launcher's environment. Read without loading
// libmpi, so a process started without mpirun never loads it.
import { SettingsError } from '../errors.js';

/** A process's place as its launcher announced it. */
export interface LaunchInfo {
  /** The launcher that set the variables ('none': a single process). */
  launcher: 'open-mpi' | 'pmi' | 'none';
  rank: number;
  size: number;
}

function count(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new SettingsError('(environment)', `${name}=${v}: expected a non-negative integer`);
  return n;
}

/**
 * Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE/_RANK; Hydra-style launchers (MPICH's mpiexec,
 * srun --mpi=pmi2) set PMI_SIZE/PMI_RANK.
 */
export function launchInfo(env: NodeJS.ProcessEnv = process.env): LaunchInfo {
  const ompi = count(env, 'OMPI_COMM_WORLD_SIZE');
  if (ompi !== undefined) return { launcher: 'open-mpi', size: ompi, rank: count(env, 'OMPI_COMM_WORLD_RANK') ?? 0 };
  const pmi = count(env, 'PMI_SIZE');
  if (pmi !== undefined) return { launcher: 'pmi', size: pmi, rank: count(env, 'PMI_RANK') ?? 0 };
  return { launcher: 'none', size: 1, rank: 0 };
}

/** The library calls that share their work among the ranks a launcher starts (evaluateBiencoder: its entity pool). */
export const DATA_PARALLEL_CALLS: readonly string[] = [
  'trainBiencoder',
  'finetune',
  'trainGan',
  'trainCrossencoder',
  'pretrainSynonyms',
  'evaluateBiencoder',
];

/**
 * Refuses a call that runs on one process when a launcher started several ranks: each rank would
 * do the whole work into the same output. SettingsError naming the calls that do run data-parallel.
 */
export function checkSingleProcessCall(call: string, env: NodeJS.ProcessEnv = process.env): void {
  const l = launchInfo(env);
  if (l.size > 1 && !DATA_PARALLEL_CALLS.includes(call))
    throw new SettingsError(
      '(launcher)',
      `${call} runs on one process, but ${l.launcher} started ${l.size} ranks: start it without mpirun (data-parallel: ${DATA_PARALLEL_CALLS.join(', ')})`,
    );
}
