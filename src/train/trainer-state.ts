// A checkpoint's place in its run (trainer_state.json, or the GAN file's trainer entry), checked
// against the run it would continue before anything is loaded: a damaged or foreign state is an
// error naming the file, never a native shape error or a run that silently trains nothing.
import { existsSync, readFileSync } from 'node:fs';

import { CheckpointError } from '../checkpoint/types.js';

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Reads a JSON object file; a missing file is undefined, a damaged one a CheckpointError. */
export function readStateFile(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(
      path,
      `expected the trainer state as JSON (${(e as Error).message}); delete the folder to start that part of the run again`,
    );
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new CheckpointError(path, 'expected the trainer state as a JSON object');
  return v as Record<string, unknown>;
}

export interface RunShape {
  epochs: number;
  stepsPerEpoch: number;
  /** The state's name of the step counter: `microStep` (bi-encoder) or `batch` (GAN). */
  stepKey: 'microStep' | 'batch';
}

/** Throws a CheckpointError unless `state` is a position inside a run of this shape. */
export function checkResumeState(state: Record<string, unknown>, where: string, run: RunShape): void {
  const fail = (what: string): never => {
    throw new CheckpointError(where, `cannot resume: ${what}`);
  };
  const epoch = state['epoch'],
    step = state[run.stepKey];
  if (!isInt(epoch) || epoch < 0) fail(`"epoch" must be an integer >= 0, got ${JSON.stringify(epoch)}`);
  if (!isInt(step) || step < 0) fail(`"${run.stepKey}" must be an integer >= 0, got ${JSON.stringify(step)}`);
  if ((epoch as number) > run.epochs)
    fail(`it is at epoch ${String(epoch)}, past the ${run.epochs} epochs of this run (was it made with other settings?)`);
  if ((step as number) > run.stepsPerEpoch)
    fail(`it is at ${run.stepKey} ${String(step)} of an epoch of ${run.stepsPerEpoch} (was it made with other data or batch sizes?)`);
  const acc = state['accuracies'];
  if (!Array.isArray(acc) || acc.some((a) => a !== null && typeof a !== 'number'))
    fail('"accuracies" must be an array of numbers (or null where nothing was validated)');
  if ('updates' in state && (!isInt(state['updates']) || (state['updates'] as number) < 0)) fail('"updates" must be an integer >= 0');
}
