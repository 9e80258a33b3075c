// BERT parity with Hugging Face transformers (fixture from test/reference/make_bert_fixture.py),
// finite-difference checks of the hand-written backward (eval and dropout modes), dropout
// determinism, and argument checks of the BertModel binding.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

import { bytesInUse, tensor, type NativeTensor } from '../src/native.js';
import { Bert, bertConfigFromHf, type BertConfig, type WeightMap } from '../src/models/bert.js';
import { cudaReason, hasCuda, testsDevice } from './support/backends.js';
import { mulberry32, randn, relErr } from './support/rng.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bert');

interface FixtureIndex {
  config: Record<string, unknown>;
  batch: number;
  seq: number;
  lengths: number[];
  input_ids: number[];
  attention_mask: number[];
  token_type_ids: number[];
  tensors: { name: string; shape: number[]; offset: number }[];
}

function loadFixture() {
  const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as FixtureIndex;
  const buf = readFileSync(join(FIX, 'data.bin'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of index.tensors) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    t.set(e.name, { shape: e.shape, data: all.subarray(e.offset, e.offset + n) });
  }
  const group = (prefix: string): WeightMap =>
    new Map([...t].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const get = (k: string): Float32Array => {
    const v = t.get(k);
    if (!v) throw new Error(`fixture lacks ${k}`);
    return v.data;
  };
  return { index, params: group('param/'), grads: group('grad/'), gradsH: group('grad_h/'), get };
}

const host = (x: NativeTensor): Float32Array => x.download() as Float32Array;

describe('BERT vs Hugging Face transformers (fp32)', () => {
  const fx = loadFixture();
  const { batch: B, seq: T } = fx.index;
  const cfg = bertConfigFromHf(fx.index.config);
  const H = cfg.hiddenSize;
  const inputs = {
    inputIds: Int32Array.from(fx.index.input_ids),
    attentionMask: Int32Array.from(fx.index.attention_mask),
    tokenTypeIds: Int32Array.from(fx.index.token_type_ids),
    batch: B,
    seq: T,
  };
  const want = { last: fx.get('out/last_hidden'), pooled: fx.get('out/pooled') };

  if (!hasCuda) console.warn(`bert parity: cuda skipped: ${cudaReason}`);
  for (const device of (['cpu', 'ref', 'cuda'] as const).filter(testsDevice)) {
    describe.skipIf(device === 'cuda' && !hasCuda)(device, () => {
      // Built in beforeAll: a skipped (cuda) suite still runs this body to collect its tests.
      let bert!: Bert;
      let report!: ReturnType<Bert['loadWeights']>;
      beforeAll(() => {
        bert = new Bert(cfg, device);
        report = bert.loadWeights(fx.params);
      });

      it('loads every HF parameter by name', () => {
        expect(report).toEqual({ unexpected: [], missing: [] });
        expect(bert.layout.map((e) => e.name)).toEqual([...fx.params.keys()]);
        const back = bert.exportWeights();
        for (const [n, w] of fx.params) expect(back.get(n)!.data, n).toEqual(w.data);
      });

      it('forward: last hidden state (real and padded positions) and pooled output', () => {
        const o = bert.forward({ ...inputs, train: false });
        expect(o.lastHidden!.shape).toEqual([B, T, H]);
        expect(o.cls.shape).toEqual([B, H]);
        expect(o.pooled!.shape).toEqual([B, H]);
        const got = host(o.lastHidden!);
        const real: [number[], number[]] = [[], []],
          pad: [number[], number[]] = [[], []];
        for (let b = 0; b < B; b++)
          for (let t = 0; t < T; t++) {
            const dst = fx.index.attention_mask[b * T + t] ? real : pad;
            for (let c = 0; c < H; c++) {
              dst[0].push(got[(b * T + t) * H + c]!);
              dst[1].push(want.last[(b * T + t) * H + c]!);
            }
          }
        const eReal = relErr(real[0], real[1]),
          ePad = relErr(pad[0], pad[1]);
        const ePooled = relErr(host(o.pooled!), want.pooled);
        const cls = host(o.cls),
          wantCls = new Float32Array(B * H);
        for (let b = 0; b < B; b++) wantCls.set(want.last.subarray(b * T * H, b * T * H + H), b * H);
        const eCls = relErr(cls, wantCls);
        console.log(
          `bert ${device}: last hidden real ${eReal.toExponential(2)}, padded ${ePad.toExponential(2)}, ` +
            `cls ${eCls.toExponential(2)}, pooled ${ePooled.toExponential(2)}`,
        );
        expect(eReal).toBeLessThanOrEqual(1e-4);
        // Padded query rows attend to the real keys in both (the mask only drops keys), so they match too.
        expect(ePad).toBeLessThanOrEqual(1e-4);
        expect(eCls).toBeLessThanOrEqual(1e-4);
        expect(ePooled).toBeLessThanOrEqual(1e-4);
      });

      it('inference clsOnly skips padded tokens (packed rows) with the same cls and pooled as HF', () => {
        const wantCls = new Float32Array(B * H);
        for (let b = 0; b < B; b++) wantCls.set(want.last.subarray(b * T * H, b * T * H + H), b * H);
        const real = fx.index.attention_mask.reduce((a, m) => a + m, 0);
        expect(real).toBeLessThan(B * T); // the fixture has padding to skip
        const got: Float32Array[] = [];
        for (const skipPadding of [true, false]) {
          const o = bert.forward({ ...inputs, train: false, grad: false, clsOnly: true, skipPadding });
          expect(o.tokenRows, `skipPadding ${skipPadding}`).toBe(skipPadding ? real : B * T);
          expect(relErr(host(o.cls), wantCls), `cls, skipPadding ${skipPadding}`).toBeLessThanOrEqual(1e-4);
          expect(relErr(host(o.pooled!), want.pooled), `pooled, skipPadding ${skipPadding}`).toBeLessThanOrEqual(1e-4);
          got.push(host(o.pooled!));
        }
        // On the host backends a row's values do not depend on the batch's other rows (nor on
        // where the GEMM's tile edges fall), so skipping the padding changes no bit.
        if (device !== 'cuda') expect(got[0]).toEqual(got[1]);
        // Not skipped: a forward that keeps activations for backward, one with dropout, and one
        // whose outputs include the padded positions (not clsOnly).
        expect(bert.forward({ ...inputs, train: false, grad: true, clsOnly: true }).tokenRows).toBe(B * T);
        expect(bert.forward({ ...inputs, train: true, grad: false, clsOnly: true, seed: 1 }).tokenRows).toBe(B * T);
        expect(bert.forward({ ...inputs, train: false, grad: false }).tokenRows).toBe(B * T);
        // A sequence whose [CLS] position is padding is computed in full, as HF computes it.
        const mask = Int32Array.from(fx.index.attention_mask);
        mask[T] = 0;
        expect(bert.forward({ ...inputs, attentionMask: mask, train: false, grad: false, clsOnly: true }).tokenRows).toBe(B * T);
      });

      // Each gradient within 1e-4 of its tensor's scale. The key biases are the exception: softmax
      // is invariant to them, so their true gradient is 0 (HF's float64 gives ~1e-16) and there
      // is no tensor scale; they must be 0 up to 1e-4 of the largest gradient of the model.
      const checkGrads = (wantG: WeightMap, what: string) => {
        const got = bert.exportGradients();
        let gscale = 0;
        for (const g of wantG.values()) for (const x of g.data) gscale = Math.max(gscale, Math.abs(x));
        let worst = 0,
          worstName = '',
          worstZero = 0;
        for (const [n, g] of wantG) {
          const mine = got.get(n)!.data;
          if (n.endsWith('attention.self.key.bias')) {
            const e = (relErr(mine, g.data) * Math.max(1e-6, ...g.data.map(Math.abs))) / gscale;
            worstZero = Math.max(worstZero, e);
            expect(e, `${what} ${n} (true gradient 0)`).toBeLessThanOrEqual(1e-4);
            continue;
          }
          const e = relErr(mine, g.data);
          if (e > worst) [worst, worstName] = [e, n];
          expect(e, `${what} ${n}`).toBeLessThanOrEqual(1e-4);
        }
        console.log(
          `bert ${device}: ${what}: worst parameter gradient error ${worst.toExponential(2)} (${worstName}); ` +
            `key biases (true 0) ${worstZero.toExponential(2)} of the largest gradient`,
        );
      };

      it('backward from [CLS] and pooled gradients: every parameter gradient', () => {
        bert.forward({ ...inputs });
        bert.zeroGrad();
        bert.backward({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
        checkGrads(fx.grads, 'L = sum(cls*Gc) + sum(pooled*Gp)');
      });

      it('backward from the last hidden state (Tensor argument)', () => {
        bert.forward({ ...inputs });
        bert.zeroGrad();
        const dl = tensor(device === 'ref' ? 'cpu' : device, 'f32', [B, T, H], fx.get('in/Gh'));
        bert.backward({ dLastHidden: dl });
        checkGrads(fx.gradsH, 'L = sum(last*Gh)');
      });

      it('async forward/backward give the sync results', async () => {
        const o = await bert.forwardAsync({ ...inputs });
        expect(relErr(host(o.pooled!), want.pooled)).toBeLessThanOrEqual(1e-4);
        bert.zeroGrad();
        await bert.backwardAsync({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
        checkGrads(fx.grads, 'async');
      });
    });
  }

  it('grad: false (inference) gives the same outputs with fewer buffers and refuses backward', () => {
    const inf = new Bert(cfg, 'cpu');
    inf.loadWeights(fx.params);
    const before = bytesInUse('cpu');
    const o = inf.forward({ ...inputs, grad: false });
    const inferenceBytes = bytesInUse('cpu') - before;
    expect(relErr(host(o.lastHidden!), want.last)).toBeLessThanOrEqual(1e-4);
    expect(relErr(host(o.pooled!), want.pooled)).toBeLessThanOrEqual(1e-4);
    expect(() => inf.backward({ dCls: fx.get('in/Gc') })).toThrow(/grad: false/);
    inf.forward(inputs);
    inf.zeroGrad();
    inf.backward({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
    const trainBytes = bytesInUse('cpu') - before; // + backward scratch (2 layers: same layer sets)
    expect(inferenceBytes).toBeLessThan(trainBytes);
    const g = inf.exportGradients();
    expect(relErr(g.get('embeddings.LayerNorm.weight')!.data, fx.grads.get('embeddings.LayerNorm.weight')!.data)).toBeLessThanOrEqual(1e-4);
    // And back to inference on the grown plan: still right.
    expect(relErr(host(inf.forward({ ...inputs, grad: false }).pooled!), want.pooled)).toBeLessThanOrEqual(1e-4);
  });

  it('holds no gradient buffer until training needs one (encode-only models hold the parameters once)', () => {
    const before = bytesInUse('cpu');
    const m = new Bert(cfg, 'cpu');
    const paramBytes = 4 * m.numParameters;
    expect(bytesInUse('cpu') - before).toBe(paramBytes);
    m.loadWeights(fx.params);
    m.zeroGrad();
    const afterLoad = bytesInUse('cpu') - before;
    expect(afterLoad).toBe(paramBytes);
    m.forward({ ...inputs, grad: false });
    const g = m.gradients(); // first use: allocated, zero
    expect(bytesInUse('cpu') - before).toBeGreaterThanOrEqual(afterLoad + paramBytes);
    expect((g.download() as Float32Array).every((v) => v === 0)).toBe(true);
    // backward allocates it too, and the result is the usual one
    const t = new Bert(cfg, 'cpu');
    t.loadWeights(fx.params);
    t.forward(inputs);
    t.backward({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
    const tg = t.exportGradients();
    for (const n of ['embeddings.LayerNorm.weight', 'encoder.layer.0.intermediate.dense.weight', 'pooler.dense.weight'])
      expect(relErr(tg.get(n)!.data, fx.grads.get(n)!.data), n).toBeLessThanOrEqual(1e-4);
  });

  it('gradients accumulate across backward calls until zeroGrad', () => {
    const bert = new Bert(cfg, 'cpu');
    bert.loadWeights(fx.params);
    bert.forward(inputs);
    bert.zeroGrad();
    bert.backward({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
    bert.backward({ dCls: fx.get('in/Gc'), dPooled: fx.get('in/Gp') });
    const g = host(bert.gradients());
    const want2 = new Float32Array(g.length);
    for (const e of bert.layout)
      want2.set(
        fx.grads.get(e.name)!.data.map((x) => 2 * x),
        e.offset,
      );
    expect(relErr(g, want2)).toBeLessThanOrEqual(1e-4);
  });

  it('a larger batch after a smaller one re-plans and stays correct', () => {
    const bert = new Bert(cfg, 'cpu');
    bert.loadWeights(fx.params);
    bert.forward({
      inputIds: inputs.inputIds.subarray(0, T),
      attentionMask: inputs.attentionMask.subarray(0, T),
      tokenTypeIds: inputs.tokenTypeIds.subarray(0, T),
      batch: 1,
      seq: T,
    });
    const o = bert.forward(inputs);
    expect(relErr(host(o.pooled!), want.pooled)).toBeLessThanOrEqual(1e-4);
  });
});

// ---- finite differences on a tiny model --------------------------------------------------------

const TINY: BertConfig = {
  vocabSize: 11,
  hiddenSize: 8,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 12,
  maxPositions: 8,
  typeVocabSize: 2,
  layerNormEps: 1e-5,
  pooler: true,
  hiddenDropout: 0.2,
  attentionDropout: 0.25,
};

/** Random parameters (scale 0.5; LayerNorm weights around 1), uploaded and returned. */
function randomize(bert: Bert, seed: number): Float32Array {
  const flat = randn(bert.numParameters, seed, 0.5);
  for (const e of bert.layout) if (e.name.endsWith('LayerNorm.weight')) for (let i = 0; i < e.shape[0]!; i++) flat[e.offset + i]! += 1;
  bert.parameters().upload(flat);
  return flat;
}

function tinyModel(seed: number): { bert: Bert; flat: Float32Array } {
  const bert = new Bert(TINY, 'cpu');
  return { bert, flat: randomize(bert, seed) };
}

describe('BERT backward vs finite differences (tiny model, f32)', () => {
  const B = 2,
    T = 5,
    Hd = TINY.hiddenSize;
  const ids = Int32Array.from([1, 4, 7, 2, 9, 3, 3, 10, 0, 0]);
  const mask = Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const types = Int32Array.from([0, 0, 1, 1, 1, 0, 1, 1, 0, 0]);
  const Gc = randn(B * Hd, 11),
    Gp = randn(B * Hd, 12),
    Gh = randn(B * T * Hd, 13);

  for (const train of [false, true]) {
    it(`train=${train}: sampled parameter gradients match central differences`, () => {
      const { bert, flat } = tinyModel(5);
      const fwd = { inputIds: ids, attentionMask: mask, tokenTypeIds: types, batch: B, seq: T, train, seed: 77 };
      const loss = (): number => {
        const o = bert.forward(fwd);
        const [c, p, h] = [host(o.cls), host(o.pooled!), host(o.lastHidden!)];
        let s = 0;
        for (let i = 0; i < c.length; i++) s += c[i]! * Gc[i]! + p[i]! * Gp[i]!;
        for (let i = 0; i < h.length; i++) s += h[i]! * Gh[i]!;
        return s;
      };
      loss();
      bert.zeroGrad();
      bert.backward({ dCls: Gc, dPooled: Gp, dLastHidden: Gh });
      const g = host(bert.gradients());
      let gmax = 0;
      for (const x of g) gmax = Math.max(gmax, Math.abs(x));
      // Every parameter tensor gets a few samples; word-embedding rows of used ids only.
      const rnd = mulberry32(99);
      const picks: number[] = [];
      for (const e of bert.layout) {
        const n = e.shape.reduce((a, b) => a * b, 1);
        for (let k = 0; k < 3; k++) {
          let i = Math.floor(rnd() * n);
          if (e.name.includes('word_embeddings')) i = ids[Math.floor(rnd() * 8)]! * Hd + (i % Hd);
          if (e.name.includes('position_embeddings')) i = i % (T * Hd);
          picks.push(e.offset + i);
        }
      }
      const eps = 1e-2;
      let worst = 0;
      for (const i of picks) {
        const x0 = flat[i]!;
        flat[i] = x0 + eps;
        bert.parameters().upload(flat);
        const lp = loss();
        flat[i] = x0 - eps;
        bert.parameters().upload(flat);
        const lm = loss();
        flat[i] = x0;
        const fd = (lp - lm) / (2 * eps);
        worst = Math.max(worst, Math.abs(fd - g[i]!) / gmax);
      }
      bert.parameters().upload(flat);
      console.log(`bert FD train=${train}: ${picks.length} parameters, worst |fd - grad| / max|grad| = ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(5e-3);
    });
  }
});

describe('BERT dropout', () => {
  const B = 2,
    T = 6;
  const ids = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]);
  const run = (bert: Bert, train: boolean, seed?: number) =>
    host(bert.forward({ inputIds: ids, batch: B, seq: T, train, ...(seed === undefined ? {} : { seed }) }).lastHidden!);

  it('train=true with the same seed is deterministic, differs from eval and from another seed', () => {
    const { bert } = tinyModel(3);
    const a = run(bert, true, 123),
      b = run(bert, true, 123),
      c = run(bert, true, 124),
      ev = run(bert, false);
    expect(b).toEqual(a);
    expect(relErr(a, ev)).toBeGreaterThan(1e-2);
    expect(relErr(a, c)).toBeGreaterThan(1e-2);
    // Eval twice is identical; ref and cpu backends agree on the dropout masks.
    expect(run(bert, false)).toEqual(ev);
    const ref = new Bert(TINY, 'ref');
    ref.parameters().upload(host(bert.parameters()));
    expect(relErr(run(ref, true, 123), a)).toBeLessThanOrEqual(1e-5);
  });

  it('without a seed, successive training steps draw different masks', () => {
    const { bert } = tinyModel(3);
    expect(relErr(run(bert, true), run(bert, true))).toBeGreaterThan(1e-2);
  });
});

describe('BERT clsOnly (last layer on the [CLS] rows only) equals the full forward and backward', () => {
  const B = 3,
    T = 5,
    Hd = TINY.hiddenSize;
  const ids = Int32Array.from([1, 4, 7, 2, 9, 3, 3, 10, 0, 0, 5, 6, 7, 8, 1]);
  const mask = Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0]);
  const Gc = randn(B * Hd, 31),
    Gp = randn(B * Hd, 32);
  const variants = [
    { device: 'cpu', precision: 'f32', tol: 1e-5 },
    { device: 'ref', precision: 'f32', tol: 1e-5 },
    { device: 'ref', precision: 'bf16', tol: 1e-2 },
    { device: 'cuda', precision: 'f32', tol: 1e-5 },
    { device: 'cuda', precision: 'bf16', tol: 1e-2 },
  ] as const;
  for (const v of variants.filter((x) => testsDevice(x.device)))
    for (const numLayers of [1, 2])
      it.skipIf(v.device === 'cuda' && !hasCuda)(`${v.device}/${v.precision}, ${numLayers} layer(s), dropout on`, () => {
        const bert = new Bert({ ...TINY, numLayers }, v.device, { precision: v.precision });
        randomize(bert, 5);
        const fwd = { inputIds: ids, attentionMask: mask, batch: B, seq: T, train: true, seed: 77 };
        const run = (clsOnly: boolean) => {
          const o = bert.forward({ ...fwd, clsOnly });
          const out = { cls: host(o.cls), pooled: host(o.pooled!), hasLast: o.lastHidden !== undefined };
          bert.zeroGrad();
          bert.backward({ dCls: Gc, dPooled: Gp });
          return { ...out, grads: host(bert.gradients()) };
        };
        const full = run(false),
          cls = run(true);
        expect(full.hasLast).toBe(true);
        expect(cls.hasLast).toBe(false);
        expect(relErr(cls.cls, full.cls)).toBeLessThanOrEqual(v.tol);
        expect(relErr(cls.pooled, full.pooled)).toBeLessThanOrEqual(v.tol);
        expect(relErr(cls.grads, full.grads)).toBeLessThanOrEqual(v.tol);
        // Inference (grad: false) with clsOnly gives the same [CLS] vectors.
        expect(relErr(host(bert.forward({ ...fwd, clsOnly: true, grad: false }).cls), full.cls)).toBeLessThanOrEqual(v.tol);
        bert.forward({ ...fwd, clsOnly: true });
        expect(() => bert.backward({ dLastHidden: new Float32Array(B * T * Hd) })).toThrow(/dLastHidden given but the forward was clsOnly/);
      });
});

describe('BERT edge cases', () => {
  it('inference (grad: false) on 1, 3 and 4 layers equals the grad forward', () => {
    for (const numLayers of [1, 3, 4]) {
      const bert = new Bert({ ...TINY, numLayers }, 'cpu');
      bert.parameters().upload(randn(bert.numParameters, 21, 0.5));
      const inp = {
        inputIds: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
        attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0]),
        batch: 2,
        seq: 4,
      };
      const a = bert.forward({ ...inp, grad: false });
      const [h1, p1] = [host(a.lastHidden!), host(a.pooled!)];
      const b = bert.forward(inp);
      expect(host(b.lastHidden!), `${numLayers} layers`).toEqual(h1);
      expect(host(b.pooled!)).toEqual(p1);
    }
  });

  it('a sequence with no real token gives finite outputs and leaves the others unchanged', () => {
    const { bert } = tinyModel(4);
    const ids = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const one = host(
      bert.forward({ inputIds: ids.subarray(0, 4), attentionMask: Int32Array.from([1, 1, 1, 0]), batch: 1, seq: 4 }).lastHidden!,
    );
    const o = bert.forward({ inputIds: ids, attentionMask: Int32Array.from([1, 1, 1, 0, 0, 0, 0, 0]), batch: 2, seq: 4 });
    const both = host(o.lastHidden!);
    expect(both.every(Number.isFinite)).toBe(true);
    expect(relErr(both.subarray(0, one.length), one)).toBeLessThanOrEqual(1e-6);
    bert.zeroGrad();
    bert.backward({ dPooled: new Float32Array(16).fill(1) });
    expect(host(bert.gradients()).every(Number.isFinite)).toBe(true);
  });
});

describe('BertModel argument checks', () => {
  const { bert } = tinyModel(1);
  const ok = { inputIds: new Int32Array(6).fill(1), batch: 2, seq: 3 };
  const bad: [string, () => unknown, RegExp][] = [
    ['config without hiddenSize', () => new Bert({ ...TINY, hiddenSize: undefined } as unknown as BertConfig), /hiddenSize/],
    ['heads not dividing hidden', () => new Bert({ ...TINY, numHeads: 3 }), /multiple of heads/],
    ['negative dropout', () => new Bert({ ...TINY, hiddenDropout: -0.1 }), /dropout/],
    ['unknown device', () => new Bert(TINY, 'tpu' as 'cpu'), /device/],
    ['ids out of range', () => bert.forward({ ...ok, inputIds: Int32Array.from([1, 2, 3, 4, 5, 11]) }), /inputIds\[5\] = 11/],
    ['negative id', () => bert.forward({ ...ok, inputIds: Int32Array.from([1, 2, -1, 4, 5, 6]) }), /inputIds\[2\]/],
    ['wrong id count', () => bert.forward({ ...ok, seq: 4 }), /batch x seq = 8/],
    ['seq past max positions', () => bert.forward({ inputIds: new Int32Array(9), batch: 1, seq: 9 }), /max positions/],
    ['mask not 0/1', () => bert.forward({ ...ok, attentionMask: Int32Array.from([1, 1, 2, 1, 1, 1]) }), /attentionMask\[2\]/],
    ['token type out of range', () => bert.forward({ ...ok, tokenTypeIds: new Int32Array(6).fill(2) }), /tokenTypeIds/],
    ['Float32Array ids', () => bert.forward({ ...ok, inputIds: new Float32Array(6) as unknown as Int32Array }), /Int32Array/],
    ['f32 tensor ids', () => bert.forward({ ...ok, inputIds: tensor('cpu', 'f32', [6]) }), /must be i32/],
    ['missing batch', () => bert.forward({ inputIds: ok.inputIds } as typeof ok), /'batch' is required/],
    ['zero batch', () => bert.forward({ ...ok, batch: 0 }), /batch and seq/],
    ['fractional seq', () => bert.forward({ ...ok, seq: 2.5 }), /integer/],
    ['bad seed', () => bert.forward({ ...ok, train: true, seed: -1 }), /seed/],
    ['train not boolean', () => bert.forward({ ...ok, train: 1 as unknown as boolean }), /boolean/],
  ];
  for (const [what, fn, re] of bad) it(`throws on ${what}`, () => expect(fn).toThrow(re));

  it('backward checks: before any forward, sizes, dtypes, pooler, empty', () => {
    const fresh = new Bert(TINY, 'cpu');
    expect(() => fresh.backward({ dCls: new Float32Array(16) })).toThrow(/no forward/);
    bert.forward(ok);
    expect(() => bert.backward({})).toThrow(/at least one/);
    expect(() => bert.backward({ dCls: new Float32Array(15) })).toThrow(/16 entries/);
    expect(() => bert.backward({ dLastHidden: tensor('cpu', 'f32', [2, 3, 7]) })).toThrow(/48 elements/);
    expect(() => bert.backward({ dCls: tensor('cpu', 'i32', [2, 8]) })).toThrow(/f32/);
    expect(() => bert.backward({ dCls: new Float64Array(16) as unknown as Float32Array })).toThrow(/Float32Array/);
    const disposed = tensor('cpu', 'f32', [2, 8]);
    disposed.dispose();
    expect(() => bert.backward({ dCls: disposed })).toThrow(/disposed/);
    const nopool = new Bert({ ...TINY, pooler: false }, 'cpu');
    expect(nopool.layout.some((e) => e.name.startsWith('pooler'))).toBe(false);
    const o = nopool.forward(ok);
    expect(o.pooled).toBeUndefined();
    expect(() => nopool.backward({ dPooled: new Float32Array(16) })).toThrow(/no pooler/);
  });

  it('refuses calls while an async forward runs, rejects bad async calls', async () => {
    const p = bert.forwardAsync(ok);
    expect(bert.model.busy).toBe(true);
    expect(() => bert.forward(ok)).toThrow(/still running/);
    expect(() => bert.zeroGrad()).toThrow(/still running/);
    await p;
    expect(bert.model.busy).toBe(false);
    expect(() => bert.forwardAsync({ ...ok, batch: 3 })).toThrow(/batch x seq/);
    await bert.backwardAsync({ dCls: new Float32Array(16) });
  });

  it('loadWeights checks names and shapes; bert. prefix and gamma/beta accepted', () => {
    const w = bert.exportWeights();
    const prefixed = new Map([...w].map(([k, v]) => [`bert.${k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')}`, v]));
    prefixed.set('cls.predictions.bias', { shape: [11], data: new Float32Array(11) });
    const other = new Bert(TINY, 'cpu');
    expect(other.loadWeights(prefixed)).toEqual({ unexpected: ['cls.predictions.bias'], missing: [] });
    expect(host(other.parameters())).toEqual(host(bert.parameters()));
    const missing = new Map(w);
    missing.delete('pooler.dense.bias');
    expect(() => other.loadWeights(missing)).toThrow(/missing 1 parameter/);
    expect(other.loadWeights(missing, { strict: false }).missing).toEqual(['pooler.dense.bias']);
    const wrong = new Map(w);
    wrong.set('pooler.dense.bias', { shape: [9], data: new Float32Array(9) });
    expect(() => other.loadWeights(wrong)).toThrow(/shape \[9\]/);
  });

  it('bertConfigFromHf rejects what the model does not compute', () => {
    const hf = { vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 };
    expect(bertConfigFromHf(hf)).toMatchObject({ maxPositions: 512, typeVocabSize: 2, layerNormEps: 1e-12, pooler: true });
    expect(() => bertConfigFromHf({ ...hf, hidden_act: 'relu' })).toThrow(/hidden_act/);
    expect(() => bertConfigFromHf({ ...hf, position_embedding_type: 'relative_key' })).toThrow(/position_embedding_type/);
    expect(() => bertConfigFromHf({ ...hf, vocab_size: 0 })).toThrow(/vocab_size/);
  });
});
