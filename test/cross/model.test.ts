// The cross-encoder's scores, loss and gradients against PyTorch (fixture from
// test/reference/make_cross_fixture.py: HF BertModel + Linear(hidden, 1) on the original's pair
// inputs, float64, no dropout) on the cpu and cuda backends (the model holds cpu/cuda tensors; the
// ref backend is checked op by op in the op suite); chunked scoring, with dropout too.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

import type { PairBatch } from '../../src/data/cross-inputs.js';
import { bertConfigFromHf, type WeightMap } from '../../src/models/bert.js';
import { CrossEncoder } from '../../src/models/crossencoder.js';
import { Workspace } from '../../src/models/workspace.js';
import { crossStep } from '../../src/train/cross-step.js';
import { cudaReason, hasCuda, testsDevice } from '../support/backends.js';
import { relErr } from '../support/rng.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cross', 'model');

interface Index {
  config: Record<string, unknown>;
  mentions: number;
  k: number;
  seq: number;
  labels: number[];
  ids: number[];
  segment_ids: number[];
  mask: number[];
  loss: number;
  tensors: { name: string; shape: number[]; offset: number }[];
}

const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as Index;
const buf = readFileSync(join(FIX, 'data.bin'));
const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
const tensors = new Map(
  index.tensors.map((e) => [e.name, { shape: e.shape, data: all.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)) }]),
);
const group = (prefix: string): WeightMap =>
  new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
const LIN = 'additional_linear.';
const bertOnly = (m: WeightMap): WeightMap => new Map([...m].filter(([k]) => !k.startsWith(LIN)));
const linearFlat = (m: WeightMap): Float32Array => Float32Array.from([...m.get(`${LIN}weight`)!.data, ...m.get(`${LIN}bias`)!.data]);

const pairs: PairBatch = {
  ids: Int32Array.from(index.ids),
  typeIds: Int32Array.from(index.segment_ids),
  mask: Int32Array.from(index.mask),
  rows: index.mentions * index.k,
  seq: index.seq,
};
const labels = Int32Array.from(index.labels);
const cfg = { ...bertConfigFromHf(index.config), hiddenDropout: 0.1, attentionDropout: 0.1 };

/**
 * Each gradient within 1e-4 of its tensor's scale; the key biases' true gradient is 0 (softmax is
 * invariant to them), so theirs must be 0 up to 1e-4 of the model's largest gradient.
 */
function checkGrads(m: CrossEncoder): void {
  const want = group('grad/');
  const got = m.encoder.bert.exportGradients();
  let scale = 0;
  for (const g of want.values()) for (const x of g.data) scale = Math.max(scale, Math.abs(x));
  for (const [n, g] of bertOnly(want)) {
    const e = relErr(got.get(n)!.data, g.data);
    if (n.endsWith('attention.self.key.bias')) expect((e * Math.max(1e-6, ...g.data.map(Math.abs))) / scale, n).toBeLessThan(1e-4);
    else expect(e, n).toBeLessThan(1e-4);
  }
  expect(relErr(m.encoder.linear!.grads.download() as Float32Array, linearFlat(want))).toBeLessThan(1e-4);
}

function build(device: 'cpu' | 'cuda'): CrossEncoder {
  const m = new CrossEncoder({ config: cfg, device });
  m.encoder.bert.loadWeights(bertOnly(group('param/')));
  m.encoder.linear!.params.upload(linearFlat(group('param/')));
  return m;
}

if (!hasCuda) console.warn(`cross-encoder parity: cuda skipped: ${cudaReason}`);

describe('the pair inputs of the model fixture are the original layout', () => {
  it('segment ids only from max_context_length on, mask = id != 0', () => {
    for (let i = 0; i < pairs.ids.length; i++) {
      expect(pairs.mask[i]).toBe(pairs.ids[i] !== 0 ? 1 : 0);
      if (i % pairs.seq < 16) expect(pairs.typeIds[i]).toBe(0);
    }
    expect(pairs.typeIds.some((t) => t === 1)).toBe(true);
  });
});

for (const device of (['cpu', 'cuda'] as const).filter(testsDevice)) {
  describe.skipIf(device === 'cuda' && !hasCuda)(`cross-encoder vs PyTorch (${device}, f32)`, () => {
    let m!: CrossEncoder;
    let ws!: Workspace;
    beforeAll(() => {
      m = build(device);
      ws = new Workspace(device);
    });

    it('state_dict names are CrossEncoderModule’s', () => {
      const names = m.parts().flatMap((p) => p.layout.map((e) => p.prefix + e.name));
      expect(names[0]).toBe('encoder.bert_model.embeddings.word_embeddings.weight');
      expect(names.slice(-2)).toEqual(['encoder.additional_linear.weight', 'encoder.additional_linear.bias']);
      expect(names.filter((n) => n.startsWith('encoder.bert_model.')).map((n) => n.slice(19))).toEqual([
        ...bertOnly(group('param/')).keys(),
      ]);
    });

    it('scores, loss and every gradient (dropout off)', async () => {
      m.zeroGrad();
      const r = await crossStep(m, ws, pairs, index.k, labels, { dropout: false, grad: true, seed: 0n });
      expect(relErr(r.scores, tensors.get('out/scores')!.data)).toBeLessThan(1e-4);
      expect(Math.abs(r.loss - index.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(index.loss)));
      checkGrads(m);
    });

    it('chunked (maxPairs): deterministic with dropout on, and without dropout the gradients are PyTorch’s', async () => {
      const o = { dropout: true, grad: true, seed: 77n };
      m.zeroGrad();
      const a = await crossStep(m, ws, pairs, index.k, labels, { ...o, maxPairs: 2 });
      const ga = m.encoder.bert.gradients().download() as Float32Array;
      const la = m.encoder.linear!.grads.download() as Float32Array;
      m.zeroGrad();
      const b = await crossStep(m, ws, pairs, index.k, labels, { ...o, maxPairs: 2 });
      // Chunked twice: deterministic; and different from no dropout (the masks are on).
      expect(b.loss).toBe(a.loss);
      expect(relErr(m.encoder.bert.gradients().download() as Float32Array, ga)).toBeLessThan(1e-6);
      const clean = await crossStep(m, ws, pairs, index.k, labels, { dropout: false, grad: false, seed: 0n });
      expect(Math.abs(clean.loss - a.loss)).toBeGreaterThan(1e-4);
      m.zeroGrad();
      await crossStep(m, ws, pairs, index.k, labels, { dropout: false, grad: true, seed: 0n, maxPairs: 4 });
      checkGrads(m);
      expect(la.some((x) => x !== 0)).toBe(true);
    });

    it('with dropout on, a forward without activations gives the scores of one with them (same seed): what chunking relies on', async () => {
      const tok = { ids: pairs.ids, typeIds: pairs.typeIds, rows: pairs.rows, seq: pairs.seq };
      const a = (await m.score(tok, { dropout: true, grad: false, seed: 5n })).download() as Float32Array;
      const b = (await m.score(tok, { dropout: true, grad: true, seed: 5n })).download() as Float32Array;
      const c = (await m.score(tok, { dropout: true, grad: true, seed: 6n })).download() as Float32Array;
      expect(relErr(a, b)).toBeLessThan(1e-6);
      expect(relErr(a, c)).toBeGreaterThan(1e-3);
    });

    it('refuses a label outside 0..k-1 and rows that are not mentions x k', async () => {
      await expect(crossStep(m, ws, pairs, index.k, Int32Array.from([0, 3, 1]), { dropout: false, grad: false, seed: 0n })).rejects.toThrow(
        /gold position 3 outside 0\.\.2/,
      );
      await expect(crossStep(m, ws, pairs, 2, labels, { dropout: false, grad: false, seed: 0n })).rejects.toThrow(
        /9 pair rows for 3 mentions x 2/,
      );
    });
  });
}

describe.skipIf(!hasCuda || !testsDevice('cuda'))('cross-encoder bf16 on cuda', () => {
  it('scores and loss near PyTorch float64 (mixed precision)', async () => {
    const m = new CrossEncoder({ config: cfg, device: 'cuda', precision: 'bf16' });
    m.encoder.bert.loadWeights(bertOnly(group('param/')));
    m.encoder.linear!.params.upload(linearFlat(group('param/')));
    const r = await crossStep(m, new Workspace('cuda'), pairs, index.k, labels, { dropout: false, grad: true, seed: 0n });
    expect(relErr(r.scores, tensors.get('out/scores')!.data)).toBeLessThan(5e-2);
    expect(Math.abs(r.loss - index.loss)).toBeLessThan(5e-2 * Math.max(1, Math.abs(index.loss)));
    const g = m.encoder.linear!.grads.download() as Float32Array;
    expect(relErr(g, linearFlat(group('grad/')))).toBeLessThan(1e-1);
  });
});
