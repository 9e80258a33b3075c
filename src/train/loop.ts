// The epoch/step scaffolding every trainer shares (bi-encoder, fine-tuning, GAN): where a run
// starts (a resumed position), one step at a time, progress after each step, and the stop check:
// a requested stop writes the trainer's state at the next position to `<output>/last` and throws
// the AbortError. What a step, a checkpoint and an epoch's end are is the trainer's.
import { join } from 'node:path';

import type { TrainHooks } from './hooks.js';

export interface EpochLoop<S> {
  outputPath: string;
  epochs: number;
  stepsPerEpoch: number;
  /** The position to start from (0, 0 for a fresh run; a checkpoint's for a resumed one). */
  start: { epoch: number; step: number };
  hooks: TrainHooks;
  /** Before the first step of an epoch (`first` > 0 when a resumed epoch continues). */
  beginEpoch?: (epoch: number, first: number) => void;
  step: (epoch: number, step: number) => Promise<void>;
  /** The trainer's state when the next step to run is (epoch, step). */
  stateAt: (epoch: number, step: number) => S;
  /** Writes the state to a checkpoint at `path` (the stop checkpoint is `<output>/last`). */
  save: (path: string, state: S) => Promise<void> | void;
  endEpoch: (epoch: number) => Promise<void>;
}

const DEFAULT_HINT = 'Run the same command with --resume to continue.';

export async function runEpochs<S>(l: EpochLoop<S>): Promise<void> {
  const { hooks } = l;
  for (let epoch = l.start.epoch; epoch < l.epochs; epoch++) {
    const first = epoch === l.start.epoch ? l.start.step : 0;
    l.beginEpoch?.(epoch, first);
    for (let k = first; k < l.stepsPerEpoch; k++) {
      await l.step(epoch, k);
      hooks.progress?.(epoch, k + 1, l.stepsPerEpoch);
      if (hooks.interrupt?.requested) {
        const state = l.stateAt(epoch, k + 1);
        await hooks.interrupt.checkpointIfRequested(() => l.save(join(l.outputPath, 'last'), state), hooks.resumeHint ?? DEFAULT_HINT);
      }
    }
    await l.endEpoch(epoch);
  }
}
