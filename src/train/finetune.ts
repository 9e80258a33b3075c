// Fine-tuning on generated features (finetune.py / finetune_hard.py): the bi-encoder training
// loop (train-biencoder.ts) with a feature file as the training data, so the context side is
// the features and only the candidate encoder is optimised. Validation stays the full
// bi-encoder's in-batch accuracy on val mentions.
import { existsSync } from 'node:fs';

import { TokenCache } from '../data/token-cache.js';
import { readCandidateFile } from '../eval/candidates.js';
import { checkFeatureData, type FeatureData } from './biencoder-data.js';
import type { TrainHooks } from './hooks.js';
import { trainBiencoder, type TrainResult, type TrainRun, type TrainSettings } from './train-biencoder.js';

/** Opens a generate-features file; `entities` overrides the token cache the file names. */
export function openFeatureData(path: string, hard: boolean, entities?: TokenCache): FeatureData {
  const file = readCandidateFile(path);
  if (hard && file.header.topK < 2)
    throw new Error(
      `${path}: --hard needs a file written by generate-features --hard (k candidates per feature); this one has k = ${file.header.topK}`,
    );
  let ents = entities;
  if (!ents) {
    const src = file.header.source?.['entityCache'];
    if (!src) throw new Error(`${path}: the file does not name its entity token cache`);
    if (!existsSync(src)) throw new Error(`${path}: its entity token cache ${src} is gone (rerun generate-features)`);
    ents = new TokenCache(src);
  }
  const d: FeatureData = { features: file, entities: ents, hard };
  checkFeatureData(d, path);
  return d;
}

export function finetune(
  run: Omit<TrainRun, 'trainEncoders'> & { train: FeatureData },
  s: TrainSettings,
  hooks: TrainHooks,
): Promise<TrainResult> {
  return trainBiencoder({ ...run, trainEncoders: 'candidate' }, s, hooks);
}
