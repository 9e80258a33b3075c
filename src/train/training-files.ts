// The files every trainer's checkpoint folder holds beside its weights and config.json: the
// vocabulary and its casing, the optimiser moments and the trainer state (the last two make a
// folder resumable: loadTrainingState reads them back).
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { encodeSafetensors } from '../checkpoint/index.js';
import type { FlatAdamW } from './optimizer.js';

export interface TrainingFiles {
  /** vocab.txt to copy beside the weights, and whether it lowercases (default true). */
  vocabPath?: string | undefined;
  lowercase?: boolean | undefined;
  optimizer?: FlatAdamW | undefined;
  trainerState?: object | undefined;
}

/** Writes into `dir` (a checkpoint's temporary folder) the files `o` asks for. */
export function writeTrainingFiles(dir: string, o: TrainingFiles): void {
  if (o.vocabPath) {
    copyFileSync(o.vocabPath, join(dir, 'vocab.txt'));
    writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify({ do_lower_case: o.lowercase ?? true })}\n`);
  }
  if (o.optimizer) {
    const st = o.optimizer.exportState();
    writeFileSync(join(dir, 'optimizer.safetensors'), encodeSafetensors(st.moments, { steps: String(st.steps) }));
  }
  if (o.trainerState) writeFileSync(join(dir, 'trainer_state.json'), `${JSON.stringify(o.trainerState, null, 2)}\n`);
}
