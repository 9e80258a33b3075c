// --precision: bf16 mixed precision reaches the bi-encoder's BERTs through the CLI and is refused,
// with a clear message, where it cannot run (the CPU backend computes in f32). On a GPU the
// bi-encoder in bf16 must embed like its f32 twin.
import { describe, expect, it } from 'vitest';

import { register as registerEncode } from '../src/cli/commands/encode.js';
import { register as registerTrain } from '../src/cli/commands/train-biencoder.js';
import { precisionOf } from '../src/stages/setup.js';
import { resolveSettings } from '../src/settings/resolve.js';
import { BiEncoder, type TokenBatch } from '../src/models/biencoder.js';
import type { BertConfig } from '../src/models/bert.js';
import { cudaReason, hasCuda } from './support/backends.js';
import { runCli } from './support/cli.js';
import { mulberry32, randn } from './support/rng.js';

if (!hasCuda) console.warn(`skipped: bi-encoder bf16 on cuda: ${cudaReason}`);

const config: BertConfig = {
  vocabSize: 50,
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 64,
  maxPositions: 16,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  pooler: false,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
};

describe('--precision', () => {
  it('accepts f32 anywhere and bf16 on cuda only', () => {
    expect(precisionOf('f32', 'cpu')).toBe('f32');
    expect(precisionOf('bf16', 'cuda')).toBe('bf16');
    expect(() => precisionOf('bf16', 'cpu')).toThrow(/precision bf16 runs on CUDA only/);
    expect(() => resolveSettings('trainBiencoder', { dataPath: 'd', outputPath: 'o', precision: 'fp8' })).toThrow(
      /precision \(--precision\) must be one of f32, bf16, got "fp8"/,
    );
  });

  it('train-biencoder --precision bf16 on the CPU stops before any work with the reason', async () => {
    await expect(
      runCli(registerTrain, 'train-biencoder', [
        '--output_path',
        '/nonexistent/out',
        '--data_path',
        '/nonexistent',
        '--bert_model',
        'tiny',
        '--device',
        'cpu',
        '--precision',
        'bf16',
        '--silent',
      ]),
    ).rejects.toThrow(/precision bf16 runs on CUDA only/);
  });

  it('encode --precision bf16 on the CPU is refused; unknown precisions are refused by the parser', async () => {
    await expect(
      runCli(registerEncode, 'encode', [
        '--model',
        'data/default',
        '--input',
        'x.jsonl',
        '--output',
        'x.npy',
        '--device',
        'cpu',
        '--precision',
        'bf16',
      ]),
    ).rejects.toThrow(/bf16/);
    await expect(runCli(registerTrain, 'train-biencoder', ['--output_path', 'o', '--precision', 'fp16'])).rejects.toThrow(/precision/);
  });

  it.skipIf(!hasCuda)('cuda: a bf16 bi-encoder embeds like its f32 twin (same weights)', async () => {
    const f32 = new BiEncoder({ config, device: 'cuda' }),
      bf16 = new BiEncoder({ config, device: 'cuda', precision: 'bf16' });
    f32.parts().forEach((p, i) => {
      p.params.upload(randn(p.params.shape[0]!, 40 + i, 0.2));
      bf16.parts()[i]!.params.copyFrom(p.params);
    });
    const r = mulberry32(9),
      rows = 6,
      seq = 12,
      ids = new Int32Array(rows * seq);
    for (let i = 0; i < ids.length; i++) ids[i] = 1 + Math.floor(r() * (config.vocabSize - 1));
    const b: TokenBatch = { ids, rows, seq };
    for (const side of ['context', 'candidate'] as const) {
      const a = (await f32.encode(side, b)).download() as Float32Array;
      const c = (await bf16.encode(side, b)).download() as Float32Array;
      const scale = Math.max(...a.map(Math.abs));
      const err = Math.max(...a.map((v, i) => Math.abs(v - c[i]!)));
      expect(err / scale, side).toBeLessThan(2e-2);
      expect(err, `${side}: bf16 must differ from f32 (it did not run in bf16)`).toBeGreaterThan(0);
    }
  });
});
