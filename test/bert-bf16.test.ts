// BERT with bf16 mixed precision (native/models/bert.h: bf16 GEMM operands and attention, f32
// accumulation, f32 master weights/gradients/residual stream/LayerNorm) against Hugging Face
// fp32, with PyTorch's own bf16 error as the bar (fixture: test/reference/make_bert_bf16_fixture.py,
// HF BertModel under torch.autocast(cpu, bfloat16) on the fp32 fixture's model and losses).
//
// Metric, per tensor (last hidden, pooled, and every parameter gradient of both losses):
//   err = max |x - fp32 reference| / max |fp32 reference|     (relErr, as the fp32 parity tests)
// Bar: err(ours) <= max(2 * err(PyTorch autocast), 2^-8). The floor 2^-8 (the bf16 epsilon at the
// tensor's scale) only matters where autocast's error is below 2^-9: where autocast leaves the
// computation in f32 (the last LayerNorm bias gradient of sum(last * Gh) is sum(Gh): autocast
// 8e-8, ours 0), and the attention key biases. Those have true gradient 0 (softmax ignores them),
// so their scale is the largest gradient of that loss, for both sides, and both errors are pure
// bf16 rounding noise of the summed dK rows (autocast 1.5e-4..4.8e-4, ours 1.3e-4..5.0e-4 of that
// scale on ref; 3.8e-4..1.8e-3 before attention_bwd summed D_i from p and dp, see ops.h).
// Relative L2 errors are printed alongside.
//
// Runs on the reference backend (host emulation of bf16 storage, in CI) and on CUDA where a
// device exists.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

import { engine } from '../src/engine.js';
import { bytesInUse, type NativeTensor } from '../src/native.js';
import { Bert, bertConfigFromHf, type WeightMap } from '../src/models/bert.js';
import { cudaReason, hasCuda, testsDevice } from './support/backends.js';
import { relErr } from './support/rng.js';

// BIOFEG_BERT_FIXTURE: another fixture folder (make_bert_fixture.py --seed N --out DIR, then
// make_bert_bf16_fixture.py --fixture DIR), to see how the bar fares on other random models.
const FIX = process.env.BIOFEG_BERT_FIXTURE ?? join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bert');
const FLOOR = 2 ** -8;

interface Entry {
  name: string;
  shape: number[];
  offset: number;
}
interface Bf16Entry extends Entry {
  max_abs_err: number;
  max_abs_ref: number;
  rel_l2: number;
}

function readFloats(file: string): Float32Array {
  const buf = readFileSync(join(FIX, file));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
function byName(entries: Entry[], all: Float32Array): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const e of entries) m.set(e.name, all.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)));
  return m;
}

const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as {
  config: Record<string, unknown>;
  batch: number;
  seq: number;
  input_ids: number[];
  attention_mask: number[];
  token_type_ids: number[];
  tensors: Entry[];
};
const ref = byName(index.tensors, readFloats('data.bin'));
const bf16 = JSON.parse(readFileSync(join(FIX, 'bf16.json'), 'utf8')) as { tensors: Bf16Entry[] };
const torchBf16 = byName(bf16.tensors, readFloats('bf16.bin'));
const get = (m: Map<string, Float32Array>, k: string): Float32Array => {
  const v = m.get(k);
  if (!v) throw new Error(`fixture lacks ${k}`);
  return v;
};

const cfg = bertConfigFromHf(index.config);
const { batch: B, seq: T } = index;
const inputs = {
  inputIds: Int32Array.from(index.input_ids),
  attentionMask: Int32Array.from(index.attention_mask),
  tokenTypeIds: Int32Array.from(index.token_type_ids),
  batch: B,
  seq: T,
};
const params: WeightMap = new Map(
  index.tensors.filter((e) => e.name.startsWith('param/')).map((e) => [e.name.slice(6), { shape: e.shape, data: get(ref, e.name) }]),
);
const host = (x: NativeTensor): Float32Array => x.download() as Float32Array;
const maxAbs = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]!));
  return s;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    s = Number.isNaN(d) ? Infinity : Math.max(s, d);
  }
  return s;
};
const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0,
    n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
};

interface Row {
  name: string;
  ours: number;
  torch: number;
  bar: number;
  oursL2: number;
  torchL2: number;
}

/** Our tensor vs the fp32 reference and autocast's, in the metric above. */
function row(name: string, ours: Float32Array, scale?: number): Row {
  const want = get(ref, name),
    theirs = get(torchBf16, name);
  const s = scale ?? Math.max(1e-6, maxAbs(want));
  const o = maxAbsDiff(ours, want) / s,
    t = maxAbsDiff(theirs, want) / s;
  return { name, ours: o, torch: t, bar: Math.max(2 * t, FLOOR), oursL2: relL2(ours, want), torchL2: relL2(theirs, want) };
}

function report(device: string, what: string, rows: Row[]): void {
  const ratios = rows
    .filter((r) => r.torch >= FLOOR / 2)
    .map((r) => r.ours / r.torch)
    .sort((a, b) => a - b);
  const worst = rows.reduce((a, r) => (r.ours / r.bar > a.ours / a.bar ? r : a));
  const med = ratios[Math.floor(ratios.length / 2)] ?? NaN;
  console.log(
    `bert bf16 ${device} ${what}: ${rows.length} tensors; ours/autocast max-abs error ratio median ` +
      `${med.toFixed(2)}, max ${(ratios[ratios.length - 1] ?? NaN).toFixed(2)}; closest to the bar: ${worst.name} ` +
      `ours ${worst.ours.toExponential(2)} (L2 ${worst.oursL2.toExponential(2)}) vs autocast ${worst.torch.toExponential(2)} ` +
      `(L2 ${worst.torchL2.toExponential(2)}), bar ${worst.bar.toExponential(2)}`,
  );
  // The next closest too: on new hardware (another GEMM summation order) these say how much room is left.
  const next = [...rows].sort((a, b) => b.ours / b.bar - a.ours / a.bar).slice(1, 5);
  console.log(`  next closest (ours/bar): ${next.map((r) => `${r.name} ${(r.ours / r.bar).toFixed(2)}`).join(', ')}`);
}

function checkRows(rows: Row[]): void {
  for (const r of rows)
    expect(r.ours, `${r.name}: ours ${r.ours.toExponential(2)} vs autocast ${r.torch.toExponential(2)}`).toBeLessThanOrEqual(r.bar);
}

function gradRows(bert: Bert, prefix: 'grad/' | 'grad_h/'): Row[] {
  const got = bert.exportGradients();
  let gscale = 0;
  for (const e of bert.layout) gscale = Math.max(gscale, maxAbs(get(ref, prefix + e.name)));
  return bert.layout.map((e) =>
    row(prefix + e.name, got.get(e.name)!.data, e.name.endsWith('attention.self.key.bias') ? gscale : undefined),
  );
}

if (!hasCuda) console.warn(`bert bf16: cuda skipped: ${cudaReason}`);

for (const device of (['ref', 'cuda'] as const).filter(testsDevice)) {
  describe.skipIf(device === 'cuda' && !hasCuda)(`BERT bf16 mixed precision vs HF fp32, bar 2x autocast (${device})`, () => {
    let bert!: Bert;
    beforeAll(() => {
      bert = new Bert(cfg, device, { precision: 'bf16' });
      bert.loadWeights(params);
    });

    it('reports its precision; weights and gradients stay f32', () => {
      expect(bert.precision).toBe('bf16');
      expect(bert.parameters().dtype).toBe('f32');
      expect(bert.gradients().dtype).toBe('f32');
    });

    it('forward: last hidden state and pooled output (f32 tensors)', () => {
      const o = bert.forward({ ...inputs, train: false });
      expect(o.lastHidden!.dtype).toBe('f32');
      expect(o.pooled!.dtype).toBe('f32');
      expect(o.cls.dtype).toBe('f32');
      const last = host(o.lastHidden!),
        cls = host(o.cls);
      for (let b = 0; b < B; b++)
        expect(cls.subarray(b * cfg.hiddenSize, (b + 1) * cfg.hiddenSize)).toEqual(
          last.subarray(b * T * cfg.hiddenSize, b * T * cfg.hiddenSize + cfg.hiddenSize),
        );
      const rows = [row('out/last_hidden', last), row('out/pooled', host(o.pooled!))];
      report(device, 'outputs', rows);
      checkRows(rows);
    });

    it('backward of L1 = sum(cls*Gc) + sum(pooled*Gp): every parameter gradient', () => {
      bert.forward({ ...inputs });
      bert.zeroGrad();
      bert.backward({ dCls: get(ref, 'in/Gc'), dPooled: get(ref, 'in/Gp') });
      const rows = gradRows(bert, 'grad/');
      report(device, 'L1 gradients', rows);
      checkRows(rows);
    });

    it('backward of L2 = sum(last*Gh): every parameter gradient', () => {
      bert.forward({ ...inputs });
      bert.zeroGrad();
      bert.backward({ dLastHidden: get(ref, 'in/Gh') });
      const rows = gradRows(bert, 'grad_h/');
      report(device, 'L2 gradients', rows);
      checkRows(rows);
    });

    it('inference clsOnly skipping padding (packed rows): pooled within the same bar', () => {
      const o = bert.forward({ ...inputs, train: false, grad: false, clsOnly: true });
      expect(o.tokenRows).toBe(inputs.attentionMask.reduce((x, y) => x + y, 0));
      expect(o.tokenRows).toBeLessThan(B * T);
      const rows = [row('out/pooled', host(o.pooled!))];
      report(device, 'outputs, padding skipped', rows);
      checkRows(rows);
    });

    it("inference (grad: false) gives the grad forward's outputs", () => {
      const a = host(bert.forward({ ...inputs, grad: false }).lastHidden!);
      expect(host(bert.forward({ ...inputs }).lastHidden!)).toEqual(a);
    });

    it('every forward re-reads the f32 master weights (optimiser steps are seen)', () => {
      const before = host(bert.forward({ ...inputs }).pooled!);
      const flat = host(bert.parameters());
      const w = bert.layout.find((e) => e.name === 'pooler.dense.weight')!;
      for (let i = w.offset; i < w.offset + 32 * 32; i++) flat[i] = -flat[i]!;
      bert.parameters().upload(flat);
      const after = host(bert.forward({ ...inputs }).pooled!);
      const fresh = new Bert(cfg, device, { precision: 'bf16' });
      fresh.parameters().upload(flat);
      expect(after).toEqual(host(fresh.forward({ ...inputs }).pooled!));
      expect(relErr(after, before)).toBeGreaterThan(0.1);
      bert.loadWeights(params);
    });
  });
}

describe('BERT bf16 in training mode (dropout) follows the f32 model', () => {
  // Same seed, same dropout masks: bf16 must stay within bf16 rounding of the f32 result.
  it('ref: outputs and gradients with dropout within 3e-2 of f32', () => {
    const run = (precision: 'f32' | 'bf16') => {
      const m = new Bert(cfg, 'ref', { precision });
      m.loadWeights(params);
      const o = m.forward({ ...inputs, train: true, seed: 4242 });
      const out = { last: host(o.lastHidden!), pooled: host(o.pooled!) };
      m.zeroGrad();
      m.backward({ dCls: get(ref, 'in/Gc'), dPooled: get(ref, 'in/Gp'), dLastHidden: get(ref, 'in/Gh') });
      return { ...out, grads: m.exportGradients() };
    };
    const a = run('f32'),
      b = run('bf16');
    expect(relErr(b.last, a.last)).toBeLessThanOrEqual(3e-2);
    expect(relErr(b.pooled, a.pooled)).toBeLessThanOrEqual(3e-2);
    // Dropout on: far from the eval result, so the masks really are applied in both.
    expect(relErr(a.last, get(ref, 'out/last_hidden'))).toBeGreaterThan(0.05);
    let worst = 0,
      worstName = '';
    for (const [n, g] of a.grads) {
      if (n.endsWith('attention.self.key.bias')) continue; // true gradient 0
      const e = relErr(b.grads.get(n)!.data, g.data);
      if (e > worst) [worst, worstName] = [e, n];
    }
    console.log(
      `bert bf16 vs f32, train mode: last ${relErr(b.last, a.last).toExponential(2)}, ` +
        `pooled ${relErr(b.pooled, a.pooled).toExponential(2)}, worst gradient ${worst.toExponential(2)} (${worstName})`,
    );
    expect(worst).toBeLessThanOrEqual(3e-2);
  });
});

describe('BERT bf16: precision option and memory', () => {
  it('device cpu takes bf16 where its backend declares it (AVX512_BF16), else refuses with the reason; unknown precisions are refused', () => {
    // test/cpu-bf16-bert.test.ts holds the CPU bf16 model to the autocast bar.
    if (engine('cpu').floats('gemm').includes('bf16')) expect(new Bert(cfg, 'cpu', { precision: 'bf16' }).precision).toBe('bf16');
    else expect(() => new Bert(cfg, 'cpu', { precision: 'bf16' })).toThrow(/the CPU backend computes bf16 only with AVX512_BF16 \(/);
    expect(() => new Bert(cfg, 'ref', { precision: 'f16' as 'bf16' })).toThrow(/precision must be 'f32' or 'bf16'/);
    expect(new Bert(cfg, 'cpu').precision).toBe('f32');
    expect(new Bert(cfg, 'ref', { precision: 'f32' }).precision).toBe('f32');
  });

  it('1 and 3 layers, no pooler: inference equals the grad forward; backward gives finite f32 gradients', () => {
    for (const numLayers of [1, 3]) {
      const m = new Bert({ ...cfg, numLayers, pooler: false }, 'ref', { precision: 'bf16' });
      const flat = new Float32Array(m.numParameters);
      for (let i = 0; i < flat.length; i++) flat[i] = Math.sin(i * 0.7) * 0.5;
      for (const e of m.layout) if (e.name.endsWith('LayerNorm.weight')) flat.fill(1, e.offset, e.offset + e.shape[0]!);
      m.parameters().upload(flat);
      const a = host(m.forward({ ...inputs, grad: false }).lastHidden!);
      expect(host(m.forward({ ...inputs }).lastHidden!), `${numLayers} layers`).toEqual(a);
      m.zeroGrad();
      m.backward({ dLastHidden: get(ref, 'in/Gh'), dCls: get(ref, 'in/Gc') });
      const g = host(m.gradients());
      expect(g.every(Number.isFinite)).toBe(true);
      expect(maxAbs(g)).toBeGreaterThan(0);
    }
  });

  it('the bf16 plan takes fewer activation bytes than the f32 plan (forward + backward)', () => {
    const planBytes = (precision: 'f32' | 'bf16'): number => {
      const m = new Bert(cfg, 'ref', { precision });
      m.loadWeights(params);
      m.gradients(); // allocated on first use: not part of the activation plan
      const before = bytesInUse('cpu');
      m.forward({ ...inputs });
      m.backward({ dCls: get(ref, 'in/Gc') });
      return bytesInUse('cpu') - before;
    };
    const f32 = planBytes('f32'),
      bf = planBytes('bf16');
    console.log(`bert activation plan (fixture model, ${B}x${T}): f32 ${f32} bytes, bf16 ${bf} bytes (${(bf / f32).toFixed(2)}x)`);
    expect(bf).toBeLessThan(0.85 * f32);
  });
});
