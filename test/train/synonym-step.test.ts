// SapBERT's loss on the op table against pytorch_metric_learning (test/fixtures/synonyms/ms-loss.json
// from test/reference/make_synonyms_fixture.py: MultiSimilarityLoss(1, 60, 0.5) over
// TripletMarginMiner(0.2, "all") pairs, mean over the anchors, autograd through F.normalize),
// on every backend; and the whole step through a BERT against finite differences.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { engine } from '../../src/engine.js';
import { Bert } from '../../src/models/bert.js';
import { Workspace } from '../../src/models/workspace.js';
import { tensor, type BackendName } from '../../src/native.js';
import { msLossAndGrad, synonymStep, type PairBatch } from '../../src/train/synonym-step.js';
import { cudaReason, hasCuda, testsDevice } from '../support/backends.js';
import { mulberry32, randn, relErr } from '../support/rng.js';
import { tinyBertConfig } from '../support/tiny-bert.js';

interface Case {
  name: string;
  M: number;
  H: number;
  labels: number[];
  triplets: number;
  emb: number[];
  loss: number;
  grad: number[];
}
const fx = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/synonyms/ms-loss.json'), 'utf8')) as { cases: Case[] };

if (!hasCuda) console.warn(`synonym step: cuda variant skipped: ${cudaReason}`);
for (const be of (['ref', 'cpu', 'cuda'] as BackendName[]).filter(testsDevice))
  describe.skipIf(be === 'cuda' && !hasCuda)(`multi-similarity loss on ${be}`, () => {
    const device = be === 'cuda' ? 'cuda' : 'cpu';
    for (const c of fx.cases)
      it(`${c.name} (${c.triplets} triplets mined) equals pytorch_metric_learning's loss and gradient on ${be}`, () => {
        const ws = new Workspace(device);
        const emb = tensor(device, 'f32', [c.M, c.H], Float32Array.from(c.emb));
        const r = msLossAndGrad(ws, emb, Int32Array.from(c.labels), { grad: true, engine: engine(be) });
        const g = r.dEmb!.download() as Float32Array;
        if (c.triplets <= 1) {
          // pytorch_metric_learning returns zero losses when at most one triplet is mined.
          expect(r.loss).toBe(0);
          expect(g.every((x) => x === 0)).toBe(true);
        } else {
          expect(c.loss).toBeGreaterThan(0.1); // the fixture is no 0 == 0
          expect(Math.abs(r.loss - c.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, c.loss));
          expect(relErr(g, c.grad)).toBeLessThanOrEqual(1e-4);
        }
        // Without grad: the same loss.
        expect(msLossAndGrad(ws, emb, Int32Array.from(c.labels), { grad: false, engine: engine(be) }).loss).toBeCloseTo(r.loss, 6);
        emb.dispose();
        ws.dispose();
      });

    it(`lossScale scales the gradient, not the loss (${be})`, () => {
      const c = fx.cases[0]!;
      const ws = new Workspace(device);
      const emb = tensor(device, 'f32', [c.M, c.H], Float32Array.from(c.emb));
      const r = msLossAndGrad(ws, emb, Int32Array.from(c.labels), { grad: true, lossScale: 0.25, engine: engine(be) });
      expect(Math.abs(r.loss - c.loss)).toBeLessThanOrEqual(1e-5);
      expect(
        relErr(
          r.dEmb!.download() as Float32Array,
          c.grad.map((x) => 0.25 * x),
        ),
      ).toBeLessThanOrEqual(1e-4);
      emb.dispose();
      ws.dispose();
    });
  });

const config = tinyBertConfig({ pooler: true, dropout: 0 });

function pairs(rows: number, seq: number, seed: number, labels: number[]): PairBatch {
  const r = mulberry32(seed);
  const side = () => {
    const ids = new Int32Array(rows * seq);
    for (let b = 0; b < rows; b++) {
      const len = 3 + Math.floor(r() * (seq - 3));
      ids[b * seq] = 2; // a [CLS]-like first token
      for (let t = 1; t < len; t++) ids[b * seq + t] = 3 + Math.floor(r() * (config.vocabSize - 3));
    }
    return ids;
  };
  return { left: side(), right: side(), rows, seq, labels: Int32Array.from(labels) };
}

describe('synonym step through a BERT', () => {
  it('the gradient of every part of the BERT matches finite differences of the loss', async () => {
    const bert = new Bert(config, 'cpu');
    // Weights of scale 1: with BERT's 0.02 every [CLS] is nearly the same and the gradients vanish.
    bert.parameters().upload(randn(bert.numParameters, 11, 1));
    const ws = new Workspace('cpu');
    const b = pairs(5, 8, 3, [0, 1, 2, 0, 3]);
    bert.zeroGrad();
    const loss = await synonymStep(bert, ws, b, { train: true, seed: 0n });
    expect(loss).toBeGreaterThan(0.05); // triplets were mined: the check is not 0 == 0
    const grads = bert.gradients().download() as Float32Array;
    const params = bert.parameters().download() as Float32Array;
    const lossAt = () => synonymStep(bert, ws, b, { train: false, seed: 0n });
    const rand = mulberry32(5);
    let checked = 0;
    for (const e of bert.layout.filter((x) => !x.name.startsWith('pooler'))) {
      const n = e.shape.reduce((a, c) => a * c, 1);
      // The largest gradient of the tensor (a visible one), as a central difference.
      let i = e.offset;
      for (let k = 0; k < Math.min(n, 400); k++) {
        const j = e.offset + Math.floor(rand() * n);
        if (Math.abs(grads[j]!) > Math.abs(grads[i]!)) i = j;
      }
      if (Math.abs(grads[i]!) < 1e-3) continue;
      const h = 3e-3,
        orig = params[i]!;
      params[i] = orig + h;
      bert.parameters().upload(params);
      const lp = await lossAt();
      params[i] = orig - h;
      bert.parameters().upload(params);
      const lm = await lossAt();
      params[i] = orig;
      bert.parameters().upload(params);
      const fd = (lp - lm) / (2 * h);
      expect(Math.abs(fd - grads[i]!), `${e.name}[${i - e.offset}]`).toBeLessThanOrEqual(0.05 * Math.abs(grads[i]!) + 2e-4);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
    // The pooler is not on the loss's path.
    const pooler = bert.layout.find((x) => x.name === 'pooler.dense.weight')!;
    expect(grads.subarray(pooler.offset, pooler.offset + 16 * 16).every((x) => x === 0)).toBe(true);
    ws.dispose();
  });
});
