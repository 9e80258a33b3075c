// Command paths with device "cuda": `biofeg encode` (f32 and bf16 against the CPU's rows) and the
// whole BioFEG schedule (a tiny run like test/pipeline.test.ts): every stage's host code on CUDA
// tensors (training loops, optimiser, checkpoints written from device memory, GAN, generation,
// top-k evaluation). Needs a CUDA device: a GPU, or the cuemu project's emulated build; elsewhere
// it is skipped with the reason.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { saveHfFolder } from '../src/checkpoint/hf-folder.js';
import { encodeFile, readPipelineConfig, runPipeline } from '../src/index.js';
import { readNpyF32 } from '../src/encode/npy.js';
import { Bert, type BertConfig } from '../src/models/bert.js';
import { hfConfigOf } from '../src/models/init.js';
import { DONE_FILE } from '../src/train/pipeline-state.js';
import { cudaReason, hasCuda } from './support/backends.js';
import { cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';
import { tinyPipelineConfig } from './support/pipeline-config.js';
import { randn } from './support/rng.js';

if (!hasCuda) console.warn(`encode and pipeline on cuda skipped: ${cudaReason}`);

describe.skipIf(!hasCuda)('biofeg encode on cuda', () => {
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-encode-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const vocab = [
    '[PAD]',
    '[unused0]',
    '[unused1]',
    '[unused2]',
    '[UNK]',
    '[CLS]',
    '[SEP]',
    'breast',
    'cancer',
    'of',
    'the',
    'colon',
    'gene',
  ];
  const cfg: BertConfig = {
    vocabSize: vocab.length,
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 2,
    intermediateSize: 64,
    maxPositions: 16,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    pooler: true,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
  };

  it('rows equal the CPU rows: f32 within 1e-4, bf16 within 3e-2 of the scale', async () => {
    const bert = new Bert(cfg, 'cpu');
    bert.parameters().upload(randn(bert.numParameters, 7, 0.3));
    const model = join(dir, 'hf');
    saveHfFolder(model, hfConfigOf(cfg), bert.exportWeights(), { extraFiles: { 'vocab.txt': vocab.join('\n') + '\n' } });
    const input = join(dir, 'in.jsonl');
    writeFileSync(
      input,
      ['breast cancer', 'the colon', 'gene of the breast cancer colon', ''].map((text) => JSON.stringify({ text })).join('\n') + '\n',
    );
    const run = async (device: 'cpu' | 'cuda', precision: 'f32' | 'bf16', pooled: boolean) => {
      const output = join(dir, `${device}-${precision}-${pooled}.npy`);
      await encodeFile({ model, input, output, device, precision, pooled, batchSize: 3 });
      return readNpyF32(output).data;
    };
    for (const pooled of [false, true]) {
      const want = await run('cpu', 'f32', pooled);
      const scale = Math.max(...Array.from(want, Math.abs));
      for (const [precision, tol] of [
        ['f32', 1e-4],
        ['bf16', 3e-2],
      ] as const) {
        const got = await run('cuda', precision, pooled);
        expect(got.length).toBe(want.length);
        let err = 0;
        for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
        console.log(
          `encode on cuda, ${precision} ${pooled ? 'pooled' : '[CLS]'}: max error ${(err / scale).toExponential(2)} of the scale`,
        );
        expect(err / scale).toBeLessThanOrEqual(tol);
      }
    }
  });
});

describe.skipIf(!hasCuda)('biofeg pipeline on cuda', () => {
  let data: Awaited<ReturnType<typeof smallDataset>>;
  let out: string, configFile: string;
  beforeAll(async () => {
    data = await smallDataset({ train: 32, val: 8, test: 16 });
    out = tmp('biofeg-pipeline-cuda-');
    configFile = join(out, 'config.json');
    // Smaller than the CPU test's run: the cuemu project executes every kernel on emulated threads.
    writeFileSync(
      configFile,
      JSON.stringify(
        tinyPipelineConfig(data, join(out, 'run'), {
          device: 'cuda',
          max_context_length: 16,
          max_cand_length: 24,
          top_k: 8,
          biencoder: { dropout: 0.1 },
          gan: { num_train_epochs: 1, start_saving: 1 },
          finetune: { train_batch_size: 16 },
        }),
      ),
    );
  }, 60_000);
  afterAll(cleanup);

  it('runs every stage on the device and writes well-formed results', async () => {
    const r = await runPipeline(readPipelineConfig(configFile));
    expect(r.stages.every((s) => !s.skipped)).toBe(true);
    const run = join(out, 'run');
    for (const s of ['biencoder', 'finetune', 'biencoder-hard', 'finetune-hard'])
      expect(existsSync(join(run, s, 'model.safetensors'))).toBe(true);
    const final = JSON.parse(readFileSync(join(run, 'eval-final', DONE_FILE), 'utf8')) as {
      result: { modes: Array<{ mode: string; total: number; recall: Record<string, number | null> }> };
    };
    expect(final.result.modes.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
    for (const m of final.result.modes) for (const v of Object.values(m.recall)) expect(v === null || (v >= 0 && v <= 1)).toBe(true);
  }, 600_000);
});
