// A checkpoint records what inference needs (config.json biofeg.inference): train-biencoder writes
// it; eval-biencoder and encode default to it and warn when given other windows; a malformed
// record is refused, and a checkpoint without one keeps today's defaults.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckpointRejectedError, evaluateBiencoder, loadBert, trainBiencoder, type ProgressEvent } from '../../src/index.js';
import { DEFAULT_INFERENCE, readInferenceMeta, saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { cleanup, smallDataset, TINY, tinyModel, tmp, VOCAB } from '../eval/retrieve-helpers.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let run: string;

beforeAll(async () => {
  data = await smallDataset({ train: 24, val: 8, test: 8 });
  run = tmp('biofeg-meta-run-');
  await trainBiencoder({
    dataPath: data.processed,
    outputPath: run,
    entityDictPath: data.entities,
    bertModel: 'tiny',
    maxContextLength: 32,
    maxCandLength: 48,
    numTrainEpochs: 1,
    trainBatchSize: 8,
    evalBatchSize: 8,
    device: 'cpu',
  });
}, 240_000);
afterAll(cleanup);

const messages = (into: string[]) => (e: ProgressEvent) => {
  if (e.type === 'message') into.push(e.text);
};

describe('recorded inference settings', () => {
  it('train-biencoder records the windows, the markers and lower-casing', () => {
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { biofeg: { inference: unknown } };
    expect(cfg.biofeg.inference).toEqual({
      max_context_length: 32,
      max_cand_length: 48,
      mention_markers: ['[unused0]', '[unused1]'],
      title_marker: '[unused2]',
      do_lower_case: true,
    });
    expect(readInferenceMeta(run)).toEqual({
      maxContextLength: 32,
      maxCandLength: 48,
      mentionMarkers: ['[unused0]', '[unused1]'],
      titleMarker: '[unused2]',
      lowercase: true,
    });
  });

  it('eval-biencoder uses the recorded windows by default and warns when given another', async () => {
    const said: string[] = [];
    const out = tmp('biofeg-meta-eval-');
    const r = await evaluateBiencoder(
      {
        dataPath: data.processed,
        outputPath: out,
        pathToModel: run,
        entityDictPath: data.entities,
        modes: ['test'],
        topK: 4,
        maxContextLength: 64,
        device: 'cpu',
        workers: 0,
      },
      { onProgress: messages(said) },
    );
    const report = JSON.parse(readFileSync(r.reportPath, 'utf8')) as { settings: { maxContextLength: number; maxCandLength: number } };
    expect(report.settings).toMatchObject({ maxContextLength: 64, maxCandLength: 48 });
    expect(said.filter((s) => s.startsWith('warning:'))).toEqual([
      'warning: max_context_length 64 given, but the checkpoint was trained with 32 (its config.json records it); results may be worse',
    ]);
  }, 120_000);

  it('encode cuts a bi-encoder side to its recorded window by default, and warns when given another', async () => {
    const long = Array.from({ length: 80 }, (_, i) => ['diabetes', 'insulin', 'kidney', 'retina'][i % 4]).join(' ');
    const ctx = await loadBert(run, { side: 'context', device: 'cpu' });
    const cand = await loadBert(run, { side: 'candidate', device: 'cpu' });
    try {
      const same = (a: Float32Array, b: Float32Array) => a.every((x, i) => Math.abs(x - b[i]!) < 1e-6);
      const d = await ctx.encode([long]);
      expect(same(d, await ctx.encode([long], { maxLength: 32 }))).toBe(true);
      expect(same(d, await ctx.encode([long], { maxLength: 48 }))).toBe(false);
      expect(same(await cand.encode([long]), await cand.encode([long], { maxLength: 48 }))).toBe(true);
      const said: string[] = [];
      await ctx.encode([long], { maxLength: 48, onProgress: messages(said) });
      expect(said).toEqual(["warning: maxLength 48 given, but the checkpoint's side was trained with 32-token inputs"]);
    } finally {
      await ctx.dispose();
      await cand.dispose();
    }
  });

  it('a checkpoint without a record has none (defaults apply); a malformed record is refused', async () => {
    const old = join(tmp('biofeg-meta-old-'), 'model');
    await saveBiEncoder(old, tinyModel(2, { config: { ...TINY, pooler: true } }), {
      settings: { addLinear: false, outDim: 1 },
      vocabPath: VOCAB,
      torchBin: false,
    });
    expect(readInferenceMeta(old)).toBeUndefined();
    expect(DEFAULT_INFERENCE).toMatchObject({ maxContextLength: 128, maxCandLength: 128 });
    const cfgPath = join(old, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { biofeg: Record<string, unknown> };
    cfg.biofeg['inference'] = {
      max_context_length: 2,
      max_cand_length: 48,
      mention_markers: ['a', 'b'],
      title_marker: 'c',
      do_lower_case: true,
    };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(() => readInferenceMeta(old)).toThrow(CheckpointRejectedError);
    expect(() => readInferenceMeta(old)).toThrow(/biofeg\.inference\.max_context_length: expected an integer >= 4, got 2/);
  });
});
