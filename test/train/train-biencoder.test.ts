// The training loop end to end on a small slice of the built-in dataset: it learns, writes the
// original's folders, and an interrupted run resumed with --resume ends bit-identical to an
// uninterrupted one (same seed: same shuffles, dropout masks, moments and step count).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TokenCache } from '../../src/data/token-cache.js';
import { BiEncoder } from '../../src/models/biencoder.js';
import { InterruptedError, InterruptFlag } from '../../src/train/interrupt.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { readTrainerState, trainBiencoder, type TrainSettings } from '../../src/train/train-biencoder.js';
import { caches, cleanup, smallDataset, tmp, TINY } from '../eval/retrieve-helpers.js';
import { randn } from '../support/rng.js';
import { expectTwoEpochRun } from '../support/run-files.js';

let train: { mentions: TokenCache; entities: TokenCache };
let val: { mentions: TokenCache; entities: TokenCache };

beforeAll(async () => {
  const d = await smallDataset({ train: 48, val: 16, test: 4 });
  train = await caches(d.processed, d.entities, 'train');
  val = await caches(d.processed, d.entities, 'val');
});
afterAll(() => cleanup());

function model(): BiEncoder {
  const m = new BiEncoder({ config: TINY, device: 'cpu' });
  m.parts().forEach((p, i) => p.params.upload(randn(p.params.shape[0]!, 100 + i, 0.05)));
  return m;
}

const settings: TrainSettings = {
  learningRate: 1e-3,
  numTrainEpochs: 2,
  trainBatchSize: 8,
  evalBatchSize: 8,
  gradientAccumulationSteps: 1,
  warmupProportion: 0.1,
  maxGradNorm: 1,
  typeOptimization: 'all',
  seed: 7,
  printInterval: 2,
  evalInterval: 1000,
  shuffle: true,
};
const params = (m: BiEncoder) => m.parts().map((p) => p.params.download() as Float32Array);

describe('trainBiencoder', () => {
  it('trains, saves epoch folders and the best, and resumes an interrupted run to the same weights', async () => {
    const outA = tmp('biofeg-train-a-');
    const a = model();
    const run = (m: BiEncoder, out: string) => ({ model: m, settings: { addLinear: false, outDim: 1 }, train, val, outputPath: out });
    const ra = await trainBiencoder(run(a, outA), settings, { log: new JsonlLogger(outA) });
    expect(ra.steps).toBe(12); // 48 / 8 per epoch, 2 epochs
    expect(ra.accuracies).toHaveLength(3);
    expectTwoEpochRun(outA);

    const outB = tmp('biofeg-train-b-');
    const interrupt = new InterruptFlag({ notify: () => {} });
    const b = model();
    await expect(
      trainBiencoder(run(b, outB), settings, {
        log: new JsonlLogger(outB),
        interrupt,
        progress: (epoch, done) => {
          if (epoch === 1 && done === 2) interrupt.raise('SIGINT');
        },
      }),
    ).rejects.toBeInstanceOf(InterruptedError);
    expect(readTrainerState(join(outB, 'last'))).toMatchObject({ epoch: 1, microStep: 2, updates: 8 });

    const c = model();
    c.parts()[0]!.params.upload(randn(c.parts()[0]!.params.shape[0]!, 999, 0.05)); // resume must load the weights
    const rc = await trainBiencoder({ ...run(c, outB), resume: true }, settings, { log: new JsonlLogger(outB) });
    expect(rc.steps).toBe(12);
    const pa = params(a),
      pc = params(c);
    for (let i = 0; i < pa.length; i++) expect(Buffer.from(pc[i]!.buffer).equals(Buffer.from(pa[i]!.buffer)), `part ${i}`).toBe(true);
  });

  it('stops on a NaN loss with the step named and writes no checkpoint', async () => {
    const out = tmp('biofeg-train-nan-');
    const m = model();
    const w = m.parts()[1]!.params.download() as Float32Array;
    w.fill(Number.NaN, 0, 1000); // poison the candidate encoder's word embeddings
    m.parts()[1]!.params.upload(w);
    await expect(
      trainBiencoder({ model: m, settings: { addLinear: false, outDim: 1 }, train, val, outputPath: out }, settings, {
        log: new JsonlLogger(out),
      }),
    ).rejects.toThrow(/loss is NaN at step 0/);
    expect(existsSync(join(out, 'epoch_0'))).toBe(false);
  });
});
