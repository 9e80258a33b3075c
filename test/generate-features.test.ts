// `biofeg generate-features` on a small subset of the built-in dataset: a tiny random bi-encoder
// (saved as a checkpoint) and a tiny GAN trained one epoch against it. The unseen set, the
// in-batch file, reproducible features, the --hard top-k with the gold inserted at 0 when
// missing (checked against a brute-force top-k), and the bi-encoder check.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openDescriptionEncoder } from '../src/stages/train-gan.js';
import { generateFeatures, type GenerateFeaturesSettings } from '../src/index.js';
import { TokenCache } from '../src/data/token-cache.js';
import { readCandidateFile } from '../src/eval/candidates.js';
import { encodeEntityPool } from '../src/eval/entity-pool.js';
import { Gan } from '../src/models/gan.js';
import { openBiEncoder, saveBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { generatedFilePath, resolveGanPath, unseenEntities } from '../src/train/generate-features.js';
import { JsonlLogger } from '../src/train/jsonl-log.js';
import { trainGan } from '../src/train/train-gan.js';
import { VOCAB, bruteTopk, caches, cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';

const VOCAB_SIZE = readFileSync(VOCAB, 'utf8')
  .split('\n')
  .filter((l) => l !== '').length;
let data: Awaited<ReturnType<typeof smallDataset>>;
let biDir: string, otherDir: string, ganOut: string;

beforeAll(async () => {
  data = await smallDataset({ train: 40, val: 8, test: 4 });
  biDir = tmp('biofeg-gen-bi-');
  otherDir = tmp('biofeg-gen-bi2-');
  const { model, settings } = openBiEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: VOCAB_SIZE, seed: 3, maxPositions: 160 });
  await saveBiEncoder(biDir, model, { settings, vocabPath: VOCAB, lowercase: true });
  const other = openBiEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: VOCAB_SIZE, seed: 4, maxPositions: 160 });
  await saveBiEncoder(otherDir, other.model, { settings: other.settings, vocabPath: VOCAB, lowercase: true });
  const tr = await caches(data.processed, data.entities, 'train');
  const va = await caches(data.processed, data.entities, 'val');
  const enc = openDescriptionEncoder('tiny', { device: 'cpu', vocabSize: VOCAB_SIZE, seed: 5, addLinear: false, outDim: 1 });
  const gan = new Gan(enc, model.embedDim, 'cpu');
  gan.initMlps(5);
  ganOut = tmp('biofeg-gen-gan-');
  const log = new JsonlLogger(ganOut);
  await trainGan(
    { biencoder: model, gan, train: tr, val: va, outputPath: ganOut },
    {
      learningRate: 5e-5,
      numTrainEpochs: 1,
      trainBatchSize: 8,
      evalBatchSize: 8,
      criticIters: 1,
      typeOptimization: 'all_encoder_layers',
      seed: 7,
      saveEvery: 1,
      startSaving: 1,
      shuffle: true,
      mseWeight: 0,
      condGrad: 'original',
    },
    { log },
  );
  log.close();
}, 180_000);
afterAll(cleanup);

const flags = (o: Partial<GenerateFeaturesSettings>): GenerateFeaturesSettings => ({
  dataPath: data.processed,
  entityDictPath: data.entities,
  ganPath: ganOut,
  pathToModel: biDir,
  outputPath: tmp('biofeg-gen-out-'),
  bertModel: 'tiny',
  hard: false,
  topK: 4,
  encodeBatchSize: 32,
  evalBatchSize: 16,
  maxContextLength: 32,
  maxCandLength: 48,
  addLinear: false,
  outDim: 1,
  seed: 11,
  device: 'cpu',
  ...o,
});
const runGenerateFeatures = (f: GenerateFeaturesSettings) => generateFeatures(f);

describe('biofeg generate-features', () => {
  it('generates one feature per entity never linked in train, reproducibly with the same seed', async () => {
    const labels = new Set(
      readFileSync(join(data.processed, 'train.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => Number((JSON.parse(l) as { label_id: number | string }).label_id)),
    );
    const nEntities = readFileSync(data.entities, 'utf8').trim().split('\n').length;
    const want = Array.from({ length: nEntities }, (_, i) => i).filter((i) => !labels.has(i));
    expect(want.length).toBeGreaterThan(0);
    expect(want.length).toBeLessThan(nEntities);
    expect(Array.from(unseenEntities([...labels], nEntities))).toEqual(want);
    expect(resolveGanPath(ganOut)).toBe(join(ganOut, 'epoch_0'));
    expect(resolveGanPath(join(ganOut, 'epoch_0'))).toBe(join(ganOut, 'epoch_0')); // the file itself, as the original's --gan_path

    const a = await runGenerateFeatures(flags({}));
    expect(a.path).toBe(generatedFilePath(a.path.split('/candidates_50')[0]!, false));
    const f = readCandidateFile(a.path);
    expect(f.header).toMatchObject({ mode: 'generate', topK: 1, count: want.length, featureDim: 128, dropped: 0, inserted: 0 });
    expect(Array.from(f.rows.gold)).toEqual(want);
    expect(Array.from(f.rows.candidates)).toEqual(want);
    expect(Array.from(f.rows.mention)).toEqual(want);
    expect(f.rows.features!.every((v) => Number.isFinite(v) && v >= 0)).toBe(true); // ReLU(G(...))
    expect(f.rows.features!.some((v) => v > 0)).toBe(true);

    const b = await runGenerateFeatures(flags({}));
    expect(Buffer.from(readCandidateFile(b.path).rows.features!.buffer).equals(Buffer.from(f.rows.features!.buffer))).toBe(true);
    const c = await runGenerateFeatures(flags({ seed: 12 }));
    expect(Buffer.from(readCandidateFile(c.path).rows.features!.buffer).equals(Buffer.from(f.rows.features!.buffer))).toBe(false);
  }, 120_000);

  it("--hard: each feature's top-k among all entity encodings, the gold at position 0 when not retrieved", async () => {
    const k = 4;
    const r = await runGenerateFeatures(flags({ hard: true, topK: k }));
    expect(r.path.endsWith(join('candidates_80', 'generate.topk'))).toBe(true);
    const f = readCandidateFile(r.path);
    const n = f.header.count,
      D = f.header.featureDim;
    expect(f.header).toMatchObject({ topK: k, missingGold: 'insert', dropped: 0 });
    // Brute force against the bi-encoder's candidate side over every entity.
    const bi = openBiEncoder({ device: 'cpu', pathToModel: biDir }).model;
    const ents = new TokenCache(f.header.source!['entityCache']!);
    const pool = await encodeEntityPool(bi, ents, { batchSize: 32 });
    const brute = bruteTopk(f.rows.features!, pool.tensor.download() as Float32Array, D, k);
    pool.dispose();
    let inserted = 0;
    for (let i = 0; i < n; i++) {
      const got = Array.from(f.rows.candidates.subarray(i * k, i * k + k));
      const top = Array.from(brute.indices.subarray(i * k, i * k + k));
      const g = f.rows.gold[i]!;
      if (top.includes(g)) {
        expect(got).toEqual(top);
        expect(f.rows.goldPos[i]).toBe(top.indexOf(g));
      } else {
        inserted++;
        expect(got).toEqual([g, ...top.slice(0, k - 1)]);
        expect(f.rows.goldPos[i]).toBe(0);
      }
    }
    expect(inserted).toBe(f.header.inserted);
    expect(inserted).toBeGreaterThan(0);
  }, 120_000);

  it('refuses a GAN trained with another bi-encoder unless --gan_biencoder names the one it was', async () => {
    await expect(runGenerateFeatures(flags({ pathToModel: otherDir }))).rejects.toThrow(/trained with bi-encoder/);
    const r = await runGenerateFeatures(flags({ pathToModel: otherDir, ganBiencoder: biDir, hard: true }));
    expect(readCandidateFile(r.path).header.count).toBeGreaterThan(0);
  }, 120_000);
});
