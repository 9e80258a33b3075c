// A tiny bi-encoder, its entity index and a tiny random cross-encoder sharing its vocabulary, on a
// slice of the built-in data: what the Linker's rerank tests (test/link, test/serve) start from.
import { join } from 'node:path';

import { buildIndex } from '../../src/index.js';
import { openCrossEncoder, saveCrossEncoder } from '../../src/train/cross-checkpoint.js';
import { saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { smallDataset, TINY, tinyModel, tmp, tokenizer, VOCAB } from '../eval/retrieve-helpers.js';

/** The pair windows the cross-encoder "was trained with": the bi-encoder's 32 / 48, pairs cut to 64 (< 32 + 48 - 1). */
export const CROSS_WINDOWS = { maxContextLength: 32, maxCandLength: 48, maxSeqLength: 64 };

export interface RerankFixture {
  data: Awaited<ReturnType<typeof smallDataset>>;
  ck: string;
  idx: string;
  cross: string;
}

export async function rerankFixture(): Promise<RerankFixture> {
  const data = await smallDataset({ train: 10, val: 10, test: 30 });
  const ck = join(tmp('biofeg-rerank-ck-'), 'model');
  await saveBiEncoder(ck, tinyModel(21, { config: { ...TINY, pooler: true } }), {
    settings: { addLinear: false, outDim: 1 },
    vocabPath: VOCAB,
    lowercase: true,
    torchBin: false,
    inference: { maxContextLength: 32, maxCandLength: 48 },
  });
  const idx = join(tmp('biofeg-rerank-idx-'), 'index');
  await buildIndex({ model: ck, kb: data.entities, out: idx, device: 'cpu', batchSize: 64 });
  const cross = join(tmp('biofeg-rerank-cross-'), 'cross');
  const { model } = openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: tokenizer().vocabSize, seed: 7 });
  await saveCrossEncoder(cross, model, { windows: CROSS_WINDOWS, vocabPath: VOCAB, lowercase: true });
  return { data, ck, idx, cross };
}
