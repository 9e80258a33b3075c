// --precision: bf16 mixed precision reaches the bi-encoder's BERTs through the CLI and is refused,
// with a clear message, where it cannot run: training in bf16 needs CUDA; inference in bf16 runs
// on CUDA and on a CPU with AVX512_BF16 (the CPU backend declares bf16 in its Caps only there).
// On a GPU the bi-encoder in bf16 must embed like its f32 twin; on such a CPU `encode` must too.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { register as registerEncode } from '../src/cli/commands/encode.js';
import { register as registerTrain } from '../src/cli/commands/train-biencoder.js';
import { engine } from '../src/engine.js';
import { readNpyF32 } from '../src/encode/npy.js';
import { precisionOf } from '../src/stages/setup.js';
import { resolveSettings } from '../src/settings/resolve.js';
import type { BertConfig } from '../src/models/bert.js';
import { cudaReason, hasCuda } from './support/backends.js';
import { runCli } from './support/cli.js';
import { bf16TwinErrors } from './support/bf16-twin.js';
import { mulberry32 } from './support/rng.js';

if (!hasCuda) console.warn(`skipped: bi-encoder bf16 on cuda: ${cudaReason}`);
// The CPU backend takes bf16 where the CPU has AVX512_BF16 (and BIOFEG_CPU_KERNEL leaves that level on).
const cpuBf16 = engine('cpu').floats('gemm').includes('bf16');
if (!cpuBf16) console.warn('cpu bf16 encode skipped: the CPU backend declares no bf16 (no AVX512_BF16, or BIOFEG_CPU_KERNEL lowered it)');
const dir = mkdtempSync(join(tmpdir(), 'biofeg-precision-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
  it('accepts f32 anywhere; bf16 for training on cuda, for inference where the backend declares it', () => {
    expect(precisionOf('f32', 'cpu', 'training')).toBe('f32');
    expect(precisionOf('f32', 'cpu', 'inference')).toBe('f32');
    if (hasCuda) {
      expect(precisionOf('bf16', 'cuda', 'training')).toBe('bf16');
      expect(precisionOf('bf16', 'cuda', 'inference')).toBe('bf16');
    }
    expect(() => precisionOf('bf16', 'cpu', 'training')).toThrow(
      cpuBf16
        ? /precision bf16 trains on CUDA only \(the cpu backend's bf16 kernels run inference/
        : /computes bf16 only with AVX512_BF16 \(/,
    );
    if (cpuBf16) expect(precisionOf('bf16', 'cpu', 'inference')).toBe('bf16');
    else expect(() => precisionOf('bf16', 'cpu', 'inference')).toThrow(/precision bf16 is not available on device cpu: .*AVX512_BF16/);
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
    ).rejects.toThrow(cpuBf16 ? /precision bf16 trains on CUDA only/ : /computes bf16 only with AVX512_BF16/);
  });

  it('unknown precisions are refused by the parser', async () => {
    await expect(runCli(registerTrain, 'train-biencoder', ['--output_path', 'o', '--precision', 'fp16'])).rejects.toThrow(/precision/);
  });

  const encodeCli = async (precision: 'f32' | 'bf16'): Promise<Float32Array> => {
    const input = join(dir, 'in.jsonl'),
      output = join(dir, `out-${precision}.npy`);
    const r = mulberry32(5);
    const rows = Array.from({ length: 13 }, (_, i) =>
      JSON.stringify({ input_ids: [2, ...Array.from({ length: 3 + ((i * 5) % 17) }, () => 5 + Math.floor(r() * 500)), 3] }),
    );
    writeFileSync(input, `${rows.join('\n')}\n`);
    await runCli(registerEncode, 'encode', [
      '--model',
      'tiny',
      '--input',
      input,
      '--output',
      output,
      '--batch_size',
      '5',
      '--device',
      'cpu',
      '--precision',
      precision,
    ]);
    return readNpyF32(output).data;
  };

  it.skipIf(cpuBf16)('encode --precision bf16 on a CPU without bf16 kernels is refused with the reason', async () => {
    await expect(encodeCli('bf16')).rejects.toThrow(/precision bf16 is not available on device cpu: .*AVX512_BF16/);
  });

  it.skipIf(!cpuBf16)('cpu: encode --precision bf16 embeds like f32 (same seeded tiny BERT)', async () => {
    const a = await encodeCli('f32'),
      b = await encodeCli('bf16');
    expect(b.length).toBe(a.length);
    let scale = 0,
      err = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i]!));
      err = Math.max(err, Math.abs(a[i]! - b[i]!));
    }
    console.log(`cpu encode bf16 vs f32 (tiny, 13 rows): max-abs error / scale ${(err / scale).toExponential(2)}`);
    expect(err / scale).toBeLessThan(2e-2);
    expect(err, 'bf16 must differ from f32 (it did not run in bf16)').toBeGreaterThan(0);
  });

  it.skipIf(!hasCuda)('cuda: a bf16 bi-encoder embeds like its f32 twin (same weights)', async () => {
    for (const { side, err, rel } of await bf16TwinErrors({ config, device: 'cuda', weightSeed: 40, tokenSeed: 9, rows: 6, seq: 12 })) {
      expect(rel, side).toBeLessThan(2e-2);
      expect(err, `${side}: bf16 must differ from f32 (it did not run in bf16)`).toBeGreaterThan(0);
    }
  });
});
