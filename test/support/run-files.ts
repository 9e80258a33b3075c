// What a two-epoch training run (bi-encoder or cross-encoder) leaves in its output folder: the
// epoch checkpoints (resumable: with the optimiser), the best epoch's model at the root, the log.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

const TWO_EPOCH_RUN_FILES = [
  'epoch_0/model.safetensors',
  'epoch_1/optimizer.safetensors',
  'model.safetensors',
  'pytorch_model.bin',
  'config.json',
  'log.jsonl',
];

export function expectTwoEpochRun(dir: string): void {
  for (const f of TWO_EPOCH_RUN_FILES) expect(existsSync(join(dir, f)), f).toBe(true);
}
