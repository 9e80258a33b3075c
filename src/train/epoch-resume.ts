// Where a trainer that validates after each epoch (bi-encoder, cross-encoder) stands, as its
// checkpoints' trainer_state.json records it, and the continuation from the newest resumable
// checkpoint: weights, optimiser moments and the position in the run, so the continuation is the
// same run (an interrupt between accumulation micro-batches drops the partial gradient sum).
import { join } from 'node:path';

import { CheckpointError } from '../checkpoint/types.js';
import { loadTrainingState } from './biencoder-checkpoint.js';
import { findResume } from './checkpoint-dir.js';
import type { TrainHooks } from './hooks.js';
import type { FlatAdamW } from './optimizer.js';
import { checkResumeState, readStateFile } from './trainer-state.js';

export interface EpochTrainerState<Acc extends number | null = number> {
  epoch: number;
  microStep: number;
  updates: number;
  /** The validation score before training, then after each epoch (null: nothing to validate on, cross-encoder only). */
  accuracies: Acc[];
  best: { epoch: number; score: number };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** A parsed trainer_state.json checked field by field; a CheckpointError naming the file otherwise. */
export function parseEpochTrainerState(v: Record<string, unknown>, path: string): EpochTrainerState<number | null> {
  const fail = (what: string): never => {
    throw new CheckpointError(path, `expected a trainer state: ${what}`);
  };
  const epoch = v['epoch'],
    microStep = v['microStep'],
    updates = v['updates'] ?? 0,
    accuracies = v['accuracies'],
    best = v['best'] ?? { epoch: -1, score: -1 };
  if (!isInt(epoch) || epoch < 0) fail(`"epoch" must be an integer >= 0, got ${JSON.stringify(epoch)}`);
  if (!isInt(microStep) || microStep < 0) fail(`"microStep" must be an integer >= 0, got ${JSON.stringify(microStep)}`);
  if (!isInt(updates) || updates < 0) fail(`"updates" must be an integer >= 0, got ${JSON.stringify(updates)}`);
  if (!Array.isArray(accuracies) || !accuracies.every((a): a is number | null => a === null || typeof a === 'number'))
    return fail('"accuracies" must be an array of numbers (or null where nothing was validated)');
  if (typeof best !== 'object' || best === null || Array.isArray(best)) return fail('"best" must be an object {epoch, score}');
  const b = best as Record<string, unknown>;
  if (!isInt(b['epoch']) || b['epoch'] < -1 || typeof b['score'] !== 'number')
    fail(`"best" must be {epoch: an integer >= -1, score: a number}, got ${JSON.stringify(best)}`);
  return {
    epoch: epoch as number,
    microStep: microStep as number,
    updates: updates as number,
    accuracies: [...accuracies],
    best: { epoch: b['epoch'] as number, score: b['score'] as number },
  };
}

/** trainer_state.json of a checkpoint folder, if any (for tools and tests), its fields checked. */
export function readEpochTrainerState(dir: string): EpochTrainerState<number | null> | undefined {
  const path = join(dir, 'trainer_state.json');
  const raw = readStateFile(path);
  return raw === undefined ? undefined : parseEpochTrainerState(raw, path);
}

/**
 * Restores the newest resumable checkpoint under `outputPath` (its weights through `loadWeights`,
 * then the optimiser moments) and returns its state; undefined when there is none. Accuracies may
 * be null only where `nullAccuracies` says so (a trainer that can have nothing to validate on).
 */
export function resumeEpochTrainer(
  outputPath: string,
  opt: FlatAdamW,
  run: { epochs: number; stepsPerEpoch: number },
  loadWeights: (dir: string) => void,
  hooks: TrainHooks,
): EpochTrainerState | undefined;
export function resumeEpochTrainer(
  outputPath: string,
  opt: FlatAdamW,
  run: { epochs: number; stepsPerEpoch: number },
  loadWeights: (dir: string) => void,
  hooks: TrainHooks,
  nullAccuracies: true,
): EpochTrainerState<number | null> | undefined;
export function resumeEpochTrainer(
  outputPath: string,
  opt: FlatAdamW,
  run: { epochs: number; stepsPerEpoch: number },
  loadWeights: (dir: string) => void,
  hooks: TrainHooks,
  nullAccuracies = false,
): EpochTrainerState<number | null> | undefined {
  // Unchecked here, only ordered: the chosen folder's state is checked below, with checkResumeState's messages.
  const dir = findResume(outputPath, (d) => {
    const at = readStateFile(join(d, 'trainer_state.json'));
    return at && { position: Number(at['epoch']) * 1e9 + Number(at['microStep']), value: d };
  });
  if (!dir) return undefined;
  loadWeights(dir);
  const raw = loadTrainingState(dir, opt);
  const path = join(dir, 'trainer_state.json');
  checkResumeState(raw, path, { ...run, stepKey: 'microStep' });
  const st = parseEpochTrainerState(raw, path);
  if (!nullAccuracies && st.accuracies.includes(null)) throw new CheckpointError(path, 'cannot resume: "accuracies" must be numbers');
  hooks.say?.(`resuming from ${dir}: epoch ${st.epoch}, micro-batch ${st.microStep}, ${st.updates} updates done`);
  hooks.log.log('resume', { dir, epoch: st.epoch, microStep: st.microStep, updates: st.updates });
  return st;
}
