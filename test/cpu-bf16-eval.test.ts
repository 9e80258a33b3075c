// evaluateBiencoder (`biofeg eval-biencoder`) and the bi-encoder in bf16 on the CPU (AVX512_BF16
// kernels): the BERTs in bf16 mixed precision, the entity pool in bf16 searched by the CPU top-k.
// A random tiny model scores every entity within bf16 rounding of the others, so its rankings
// are not compared; the embeddings are (bf16 within 2e-2 of f32 at their scale, and not equal),
// and the stage must run end to end with a bf16 pool. Where the CPU backend declares no bf16, the
// stage must refuse it before any work, naming why.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { engine } from '../src/engine.js';
import type { EvalReport } from '../src/eval/evaluate.js';
import { evaluateBiencoder } from '../src/index.js';
import { TINY, cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';
import { bf16TwinErrors } from './support/bf16-twin.js';

const cpuBf16 = engine('cpu').floats('gemm').includes('bf16');
if (!cpuBf16) console.warn('cpu bf16 eval: bf16 run skipped: the CPU backend declares no bf16 (no AVX512_BF16, or BIOFEG_CPU_KERNEL)');

let data: Awaited<ReturnType<typeof smallDataset>>;
beforeAll(async () => {
  data = await smallDataset({ train: 10, val: 10, test: 40 });
});
afterAll(cleanup);

const run = async (precision: 'f32' | 'bf16') => {
  const res = await evaluateBiencoder({
    dataPath: data.processed,
    outputPath: tmp(`biofeg-eval-${precision}-`),
    bertModel: 'tiny',
    encodeBatchSize: 64,
    evalBatchSize: 16,
    topK: 16,
    maxContextLength: 32,
    maxCandLength: 32,
    modes: ['test'],
    seed: 11,
    device: 'cpu',
    precision,
    poolDtype: precision,
    workers: 0,
  });
  return JSON.parse(readFileSync(res.reportPath, 'utf8')) as EvalReport;
};

describe('the bi-encoder and evaluateBiencoder on the CPU in bf16', () => {
  it.skipIf(!cpuBf16)('a bf16 bi-encoder embeds like its f32 twin (same weights), both sides', async () => {
    const cfg = { ...TINY, numLayers: 2, pooler: true };
    for (const { side, err, rel } of await bf16TwinErrors({
      config: cfg,
      device: 'cpu',
      addLinear: true,
      outDim: 24,
      weightSeed: 70,
      tokenSeed: 3,
      rows: 7,
      seq: 19,
    })) {
      console.log(`cpu bi-encoder ${side}: bf16 vs f32 max-abs error / scale ${rel.toExponential(2)}`);
      expect(rel, side).toBeLessThan(2e-2);
      expect(err, `${side}: bf16 must differ from f32 (it did not run in bf16)`).toBeGreaterThan(0);
    }
  });

  it.skipIf(!cpuBf16)('evaluateBiencoder --precision bf16 --pool_dtype bf16 runs end to end', async () => {
    const rep = await run('bf16');
    expect(rep.settings.poolDtype).toBe('bf16');
    const rc = rep.modes[0]!.recall;
    expect(rc.total).toBe(40);
    const hits = rc.ks.map((k) => rc.hits[String(k)]!);
    console.log(`cpu eval bf16: hits ${JSON.stringify(rc.hits)} of 40`);
    for (let i = 1; i < hits.length; i++) expect(hits[i]!).toBeGreaterThanOrEqual(hits[i - 1]!);
    expect(hits.every((h) => Number.isInteger(h) && h >= 0 && h <= 40)).toBe(true);
  });

  it.skipIf(cpuBf16)('refuses bf16 before any work, naming why', async () => {
    await expect(run('bf16')).rejects.toThrow(/precision bf16 is not available on device cpu: .*AVX512_BF16/);
  });
});
