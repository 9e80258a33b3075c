// Where a trainer that validates after each epoch (bi-encoder, cross-encoder) stands, as its
// checkpoints' trainer_state.json records it, and the continuation from the newest resumable
// checkpoint: weights, optimiser moments and the position in the run, so the continuation is the
// same run (an interrupt between accumulation micro-batches drops the partial gradient sum).
import { join } from 'node:path';

import { loadTrainingState } from './biencoder-checkpoint.js';
import { findResume } from './checkpoint-dir.js';
import type { TrainHooks } from './hooks.js';
import type { FlatAdamW } from './optimizer.js';
import { checkResumeState, readStateFile } from './trainer-state.js';

export interface EpochTrainerState {
  epoch: number;
  microStep: number;
  updates: number;
  /** The validation score before training, then after each epoch. */
  accuracies: number[];
  best: { epoch: number; score: number };
}

/** trainer_state.json of a checkpoint folder, if any (for tools and tests). */
export function readEpochTrainerState(dir: string): EpochTrainerState | undefined {
  // Checked field by field by checkResumeState before a run continues from it.
  return readStateFile(join(dir, 'trainer_state.json')) as EpochTrainerState | undefined;
}

/**
 * Restores the newest resumable checkpoint under `outputPath` (its weights through `loadWeights`,
 * then the optimiser moments) and returns its state; undefined when there is none.
 */
export function resumeEpochTrainer(
  outputPath: string,
  opt: FlatAdamW,
  run: { epochs: number; stepsPerEpoch: number },
  loadWeights: (dir: string) => void,
  hooks: TrainHooks,
): EpochTrainerState | undefined {
  const dir = findResume(outputPath, (d) => {
    const at = readEpochTrainerState(d);
    return at && { position: at.epoch * 1e9 + at.microStep, value: d };
  });
  if (!dir) return undefined;
  loadWeights(dir);
  const raw = loadTrainingState(dir, opt);
  checkResumeState(raw, join(dir, 'trainer_state.json'), { ...run, stepKey: 'microStep' });
  const st = raw as unknown as EpochTrainerState; // checked just above
  hooks.say?.(`resuming from ${dir}: epoch ${st.epoch}, micro-batch ${st.microStep}, ${st.updates} updates done`);
  hooks.log.log('resume', { dir, epoch: st.epoch, microStep: st.microStep, updates: st.updates });
  return st;
}
