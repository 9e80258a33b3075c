// The bi-encoder losses written on the op table: gradients against finite differences, the hard
// loss equal to the in-batch one when every mention's candidates are the whole batch, and the
// optimiser touching only the trained ranges.
import { describe, expect, it } from 'vitest';

import { BiEncoder, type TokenBatch } from '../../src/models/biencoder.js';
import { Workspace } from '../../src/models/workspace.js';
import { hardStep, inBatchStep } from '../../src/train/biencoder-step.js';
import { FlatAdamW } from '../../src/train/optimizer.js';
import { trainablePatterns } from '../../src/train/param-groups.js';
import { mulberry32, randn } from '../support/rng.js';
import { tinyBertConfig } from '../support/tiny-bert.js';

const config = tinyBertConfig({ pooler: false, dropout: 0.1 });

function model(addLinear = false): BiEncoder {
  const m = new BiEncoder({ config, device: 'cpu', addLinear, outDim: 8 });
  let seed = 1;
  for (const p of m.parts()) {
    const n = p.params.shape[0]!;
    p.params.upload(randn(n, seed++, 0.2));
  }
  return m;
}

function tokens(rows: number, seq: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  const ids = new Int32Array(rows * seq);
  for (let b = 0; b < rows; b++) {
    const len = 2 + Math.floor(r() * (seq - 2));
    for (let t = 0; t < len; t++) ids[b * seq + t] = 1 + Math.floor(r() * (config.vocabSize - 1));
  }
  return { ids, rows, seq };
}

describe('bi-encoder step', () => {
  for (const addLinear of [false, true])
    it(`in-batch gradients match finite differences (add_linear=${addLinear})`, async () => {
      const m = model(addLinear),
        ws = new Workspace('cpu');
      const ctx = tokens(4, 10, 7),
        cand = tokens(4, 8, 8);
      // Eval mode (no dropout) so the loss is a fixed function of the weights.
      const lossAt = async () => (await inBatchStep(m, ws, { tokens: ctx }, cand, { train: false, seed: 0n })).loss;
      m.zeroGrad();
      // Backward with dropout off: train=true switches dropout on, so compare with a p=0 config.
      const m0 = new BiEncoder({ config: { ...config, hiddenDropout: 0, attentionDropout: 0 }, device: 'cpu', addLinear, outDim: 8 });
      m0.parts().forEach((p, i) => p.params.copyFrom(m.parts()[i]!.params));
      if (addLinear) {
        // Linear dropout is fixed at 0.1 in BLINK; check with the linear's dropout off.
        (m0.context.linear as unknown as { dropout: number }).dropout = 0;
        (m0.candidate.linear as unknown as { dropout: number }).dropout = 0;
      }
      m0.zeroGrad();
      await inBatchStep(m0, new Workspace('cpu'), { tokens: ctx }, cand, { train: true, seed: 0n });
      const rand = mulberry32(3);
      for (const [pi, part] of m.parts().entries()) {
        const grads = m0.parts()[pi]!.grads.download() as Float32Array;
        const params = part.params.download() as Float32Array;
        for (let trial = 0; trial < 4; trial++) {
          // Prefer a weight with a visible gradient so the check is not 0 == 0.
          let i = Math.floor(rand() * params.length);
          for (let s = 0; s < 50 && Math.abs(grads[i]!) < 1e-4; s++) i = Math.floor(rand() * params.length);
          const h = 1e-2,
            orig = params[i]!;
          params[i] = orig + h;
          part.params.upload(params);
          const lp = await lossAt();
          params[i] = orig - h;
          part.params.upload(params);
          const lm = await lossAt();
          params[i] = orig;
          part.params.upload(params);
          const fd = (lp - lm) / (2 * h);
          expect(Math.abs(fd - grads[i]!), `${part.prefix}[${i}] fd ${fd} vs ${grads[i]}`).toBeLessThan(2e-3 + 0.05 * Math.abs(fd));
        }
      }
    });

  it('hard loss over the whole batch as candidates equals the in-batch loss, gradients too', async () => {
    const cfg0 = { ...config, hiddenDropout: 0, attentionDropout: 0 };
    const a = new BiEncoder({ config: cfg0, device: 'cpu' }),
      b = new BiEncoder({ config: cfg0, device: 'cpu' });
    a.parts().forEach((p, i) => {
      p.params.upload(randn(p.params.shape[0]!, 20 + i, 0.2));
      b.parts()[i]!.params.copyFrom(p.params);
    });
    const B = 3,
      ctx = tokens(B, 9, 11),
      cand = tokens(B, 7, 12);
    const all: TokenBatch = { ids: new Int32Array(B * B * 7), rows: B * B, seq: 7 };
    for (let i = 0; i < B; i++) all.ids.set(cand.ids, i * B * 7);
    a.zeroGrad();
    b.zeroGrad();
    const r1 = await inBatchStep(a, new Workspace('cpu'), { tokens: ctx }, cand, { train: true, seed: 5n });
    const r2 = await hardStep(b, new Workspace('cpu'), { tokens: ctx }, all, B, Int32Array.from([0, 1, 2]), { train: true, seed: 5n });
    expect(Math.abs(r1.loss - r2.loss)).toBeLessThan(1e-5);
    for (const [i, p] of a.parts().entries()) {
      const g1 = p.grads.download() as Float32Array,
        g2 = b.parts()[i]!.grads.download() as Float32Array;
      let err = 0,
        scale = 1e-6;
      for (let j = 0; j < g1.length; j++) {
        err = Math.max(err, Math.abs(g1[j]! - g2[j]!));
        scale = Math.max(scale, Math.abs(g1[j]!));
      }
      // The hard step encodes the candidates B times over (B*B rows), so its GEMMs take other
      // tile paths and sum in another order: rounding noise of order 1e-4 of the largest gradient
      // (more with the AVX-512 tiles than the AVX2 ones); a wrong gradient is off by order 1.
      expect(err / scale, p.prefix).toBeLessThan(5e-4);
    }
  });

  it('the optimiser updates only the trained ranges and clips the global norm', async () => {
    const m = model(),
      ws = new Workspace('cpu');
    const before = m.parts().map((p) => p.params.download() as Float32Array);
    m.zeroGrad();
    await inBatchStep(m, ws, { tokens: tokens(4, 10, 1) }, tokens(4, 8, 2), { train: true, seed: 3n });
    const opt = new FlatAdamW('cpu', m.parts(), { patterns: trainablePatterns('top_layer', config.numLayers) });
    const norm = opt.gradNorm();
    expect(norm).toBeGreaterThan(0);
    expect(opt.clipGradNorm(norm / 10)).toBeCloseTo(norm, 4);
    expect(opt.gradNorm()).toBeCloseTo(norm / 10, 3);
    opt.update(1e-2);
    for (const [i, p] of m.parts().entries()) {
      const after = p.params.download() as Float32Array;
      for (const e of p.layout) {
        const n = e.shape.reduce((x, y) => x * y, 1);
        const changed = after.subarray(e.offset, e.offset + n).some((x, j) => x !== before[i]![e.offset + j]);
        const trained = (p.prefix + e.name).includes(`bert_model.encoder.layer.${config.numLayers - 1}.`);
        // The key bias's true gradient is zero (softmax ignores a per-row constant): only rounding moves it.
        if (e.name.endsWith('attention.self.key.bias') && trained) continue;
        expect(changed, p.prefix + e.name).toBe(trained);
      }
    }
  });
});
