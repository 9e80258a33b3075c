// A seeded random bi-encoder checkpoint of a built-in size with the built-in vocabulary, written as
// training writes one (config.json records the inference windows), for bench:serve and the serve
// tests: what is measured or checked there is the service path, not what the model learned.
import { readFileSync } from 'node:fs';

import type { BertSize } from '../src/models/init.js';
import { builtinData } from '../src/paths.js';
import { openBiEncoder, saveBiEncoder } from '../src/train/biencoder-checkpoint.js';

/** The built-in entities (the arboEL documents format): a KB for `biofeg index`. */
export const BUILTIN_KB = builtinData.entityDictPath;

/** The mention window recorded in a bench model unless told otherwise (the demo's). */
export const BENCH_MENTION_WINDOW = 32;

function vocabSize(path: string): number {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '').length;
}

export interface RandomModelOptions {
  seed?: number;
  /** Mention window in tokens (recorded); default 32, the demo's. */
  maxContextLength?: number;
  /** Entity window in tokens (recorded); default 48. */
  maxCandLength?: number;
}

export async function writeRandomBiencoder(dir: string, size: BertSize, o: RandomModelOptions = {}): Promise<void> {
  const { model, settings } = openBiEncoder({
    device: 'cpu',
    bertModel: size,
    vocabSize: vocabSize(builtinData.vocabPath),
    maxPositions: 512,
    seed: o.seed ?? 52313,
  });
  await saveBiEncoder(dir, model, {
    settings,
    inference: { maxContextLength: o.maxContextLength ?? BENCH_MENTION_WINDOW, maxCandLength: o.maxCandLength ?? 48 },
    vocabPath: builtinData.vocabPath,
    lowercase: true,
    torchBin: false,
  });
}
