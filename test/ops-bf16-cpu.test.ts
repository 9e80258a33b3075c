// The fast CPU backend's bf16 kernels (AVX512_BF16: native/cpu/fast/gemm_bf16.h) against the
// reference backend's bf16 emulation, on the same bf16 inputs. Both sum exact products in f32 or
// wider and round once on store, so an f32 output may differ by summation order only and a bf16
// output by one rounding step where the two sums straddle a rounding boundary (up to 2^-7 of the
// tensor's largest value: one step of its binade).
// Shapes hit the kernel's edges: M, N, K odd, K = 1, K = 0, rows not a multiple of the 6-row
// tile, columns not a multiple of the 64-column panel, K over one K block, row-major A read in
// place (K even) or packed (K odd, transA), batched strides, every epilogue.
//
// Where the CPU backend declares no bf16 (no AVX512_BF16, or BIOFEG_CPU_KERNEL below avx512bf16)
// the kernels are skipped with the reason printed and the refusal is tested instead.
import { afterEach, describe, expect, it } from 'vitest';

import { engine } from '../src/engine.js';
import type { DType, NativeTensor } from '../src/native.js';
import { tensor } from '../src/native.js';
import { randn, relErr } from './support/rng.js';

const cpuBf16 = engine('cpu').floats('gemm').includes('bf16');
const reason = cpuBf16
  ? ''
  : process.env.BIOFEG_CPU_KERNEL
    ? `BIOFEG_CPU_KERNEL=${process.env.BIOFEG_CPU_KERNEL} is below avx512bf16`
    : 'this CPU lacks AVX512_BF16';
if (!cpuBf16) console.warn(`cpu bf16 kernels: skipped: ${reason}`);

const made: NativeTensor[] = [];
afterEach(() => {
  for (const t of made.splice(0)) t.dispose();
});
const t = (dt: DType, shape: number[], data?: Float32Array | Int32Array): NativeTensor => {
  const x = tensor('cpu', dt, shape, data);
  made.push(x);
  return x;
};
const host = (x: NativeTensor): Float32Array => x.download() as Float32Array;
const ULP = 2 ** -7;

function close(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  const e = relErr(got, want);
  expect(e, `${what}: error ${e.toExponential(2)} > ${tol.toExponential(2)}`).toBeLessThanOrEqual(tol);
}
const tolOf = (dt: DType, K: number): number => (dt === 'bf16' ? ULP : 1e-6 * Math.max(4, Math.sqrt(K)));

interface Case {
  M: number;
  N: number;
  K: number;
  ta?: boolean;
  tb?: boolean;
  batch?: number;
  c: DType;
  bias?: DType;
  pre?: DType;
  gelu?: boolean;
  alpha?: number;
  beta?: number;
}

/** One GEMM on both backends from the same tensors' contents; C, pre compared. */
function runCase(k: Case, seed: number): void {
  const { M, N, K, ta = false, tb = false, batch = 1, c: cdt } = k;
  const a = randn(batch * M * K, seed),
    b = randn(batch * N * K, seed + 1),
    c0 = randn(batch * M * N, seed + 2),
    bias = randn(N, seed + 3);
  const shapeA = batch > 1 ? [batch, ta ? K : M, ta ? M : K] : [ta ? K : M, ta ? M : K];
  const shapeB = batch > 1 ? [batch, tb ? N : K, tb ? K : N] : [tb ? N : K, tb ? K : N];
  const shapeC = batch > 1 ? [batch, M, N] : [M, N];
  const out: Record<'cpu' | 'ref', { C: Float32Array; pre?: Float32Array }> = {} as never;
  for (const be of ['cpu', 'ref'] as const) {
    const C = t(cdt, shapeC, c0),
      pre = k.pre ? t(k.pre, shapeC) : null;
    engine(be).gemm(t('bf16', shapeA, a), t('bf16', shapeB, b), C, {
      transA: ta,
      transB: tb,
      alpha: k.alpha ?? 1,
      beta: k.beta ?? 0,
      bias: k.bias ? t(k.bias, [N], bias) : null,
      gelu: k.gelu ?? false,
      pre,
    });
    out[be] = { C: host(C), ...(pre ? { pre: host(pre) } : {}) };
  }
  const what = JSON.stringify(k);
  close(out.cpu.C, out.ref.C, tolOf(cdt, K), `${what} C`);
  if (k.pre) close(out.cpu.pre!, out.ref.pre!, tolOf(k.pre, K), `${what} pre`);
}

describe.skipIf(!cpuBf16)('cpu bf16 gemm vs the reference bf16 emulation', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 3],
    [13, 67, 29],
    [6, 64, 2],
    [61, 131, 1],
    [100, 70, 300],
    [97, 200, 96],
    [200, 130, 257],
    [37, 65, 1000], // three K blocks
    [300, 129, 64], // several row blocks and panels
  ];
  let seed = 100;
  for (const [M, N, K] of shapes)
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const)
      for (const c of ['f32', 'bf16'] as const) {
        seed += 10;
        const s = seed;
        it(`${M}x${N}x${K} transA=${ta} transB=${tb} C ${c}, alpha 0.5, beta 0.25`, () =>
          runCase({ M, N, K, ta, tb, c, alpha: 0.5, beta: 0.25 }, s));
      }

  for (const c of ['f32', 'bf16'] as const)
    for (const bias of ['f32', 'bf16'] as const)
      for (const pre of ['f32', 'bf16'] as const)
        it(`epilogue: bias ${bias}, GELU, pre ${pre}, C ${c} (HF Linear: transB), odd shapes`, () => {
          runCase({ M: 63, N: 200, K: 96, tb: true, c, bias, pre, gelu: true }, 7);
          runCase({ M: 5, N: 17, K: 33, tb: true, c, bias, pre, gelu: true, alpha: 2, beta: 0.5 }, 8);
        });

  it('epilogue: bias without GELU; GELU without bias or pre', () => {
    runCase({ M: 19, N: 70, K: 40, tb: true, c: 'f32', bias: 'f32' }, 9);
    runCase({ M: 19, N: 70, K: 41, c: 'bf16', gelu: true }, 10);
  });

  it('batched, strided (attention-like shapes), with epilogue', () => {
    runCase({ M: 21, N: 21, K: 24, tb: true, batch: 3, c: 'f32', alpha: 0.2 }, 11);
    runCase({ M: 19, N: 23, K: 40, tb: true, batch: 3, c: 'bf16', bias: 'f32', gelu: true, pre: 'bf16' }, 12);
  });

  it('K = 0: C = beta C + bias, through the epilogue', () => {
    runCase({ M: 9, N: 11, K: 0, c: 'bf16', beta: 0.5, bias: 'f32', gelu: true, pre: 'bf16' }, 13);
    runCase({ M: 9, N: 11, K: 0, c: 'f32', beta: 0 }, 14);
  });

  it('f32 A and B with a bf16 C, bias or pre (the widened path)', () => {
    const [M, N, K] = [17, 33, 45];
    const a = randn(M * K, 20),
      b = randn(K * N, 21),
      bias = randn(N, 22);
    const got: Float32Array[] = [];
    for (const be of ['cpu', 'ref'] as const) {
      const C = t('bf16', [M, N]);
      engine(be).gemm(t('f32', [M, K], a), t('f32', [K, N], b), C, { bias: t('bf16', [N], bias), gelu: true });
      got.push(host(C));
    }
    close(got[0]!, got[1]!, ULP, 'C');
  });

  it('beta 0 ignores what C held (NaN included)', () => {
    const [M, N, K] = [8, 70, 16];
    const C = t('bf16', [M, N], new Float32Array(M * N).fill(Number.NaN));
    engine('cpu').gemm(t('bf16', [M, K], randn(M * K, 30)), t('bf16', [K, N], randn(K * N, 31)), C);
    expect(host(C).every(Number.isFinite)).toBe(true);
  });

  it('a BERT-sized GEMM (HF Linear 768 -> 3072 with GELU, 200 tokens)', () => {
    runCase({ M: 200, N: 3072, K: 768, tb: true, c: 'bf16', bias: 'f32', pre: 'bf16', gelu: true }, 40);
  });
});

describe.skipIf(!cpuBf16)('cpu bf16 attention, cast, embedding vs the reference', () => {
  for (const [B, T, H, D] of [
    [3, 7, 2, 8],
    [2, 21, 4, 24],
    [1, 1, 1, 1],
  ])
    it(`attention forward ${B}x${T}x${H}x${D}, key mask (padding, an all-padding sequence)`, () => {
      const q = randn(B! * T! * 3 * H! * D!, 50);
      const maskv = new Int32Array(B! * T!).fill(1);
      if (B! > 1) for (let j = Math.ceil(T! / 2); j < T!; j++) maskv[T! + j] = 0;
      if (B! > 2) maskv.fill(0, 2 * T!, 3 * T!);
      const got: { out: Float32Array; lse: Float32Array }[] = [];
      for (const be of ['cpu', 'ref'] as const) {
        const out = t('bf16', [B!, T!, H!, D!]),
          lse = t('f32', [B!, H!, T!]);
        engine(be).attention(t('bf16', [B!, T!, 3, H!, D!], q), t('i32', [B!, T!], maskv), out, lse);
        got.push({ out: host(out), lse: host(lse) });
      }
      close(got[0]!.out, got[1]!.out, 2 * ULP, 'out');
      const a = got[0]!.lse,
        r = got[1]!.lse;
      for (let i = 0; i < a.length; i++)
        if (Number.isFinite(r[i]!)) expect(Math.abs(a[i]! - r[i]!), `lse[${i}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(r[i]!)));
        else expect(a[i]).toBe(r[i]);
    });

  it('attention forward with dropout (training: the f32 kernel on widened qkv, same Philox masks)', () => {
    const [B, T, H, D] = [2, 9, 2, 8];
    const q = randn(B * T * 3 * H * D, 55);
    const got: Float32Array[] = [];
    for (const be of ['cpu', 'ref'] as const) {
      const out = t('bf16', [B, T, H, D]);
      engine(be).attention(t('bf16', [B, T, 3, H, D], q), null, out, t('f32', [B, H, T]), { dropout: 0.25, seed: 7, offset: 3 });
      got.push(host(out));
    }
    close(got[0]!, got[1]!, 2 * ULP, 'out');
  });

  it('cast f32 -> bf16 equals the reference bit for bit (ties to even, denormals, NaN, overflow)', () => {
    const v = new Float32Array(1000);
    const r = randn(1000, 60);
    for (let i = 0; i < v.length; i++) v[i] = r[i]! * 10 ** ((i % 9) - 4);
    v.set([1e-39, -3e-40, 1.1754942e-38, 1.00390625, 1.01171875, Number.NaN, Infinity, -0, 3.4e38, 1e-45, -1.00390625], 0);
    const got: Float32Array[] = [];
    for (const be of ['cpu', 'ref'] as const) {
      const y = t('bf16', [v.length]);
      engine(be).cast(t('f32', [v.length], v), y);
      got.push(host(y));
    }
    expect(Array.from(got[0]!)).toEqual(Array.from(got[1]!));
    const back: Float32Array[] = [];
    for (const be of ['cpu', 'ref'] as const) {
      const y = t('f32', [v.length]);
      engine(be).cast(t('bf16', [v.length], v), y);
      back.push(host(y));
    }
    expect(Array.from(back[0]!)).toEqual(Array.from(back[1]!));
  });

  it('embedding rows of a bf16 table, add and axpy on bf16', () => {
    const [V, C, N] = [11, 24, 9];
    const table = randn(V * C, 70),
      ids = Int32Array.from({ length: N }, (_, i) => (i * 7) % V);
    const got: Float32Array[] = [];
    for (const be of ['cpu', 'ref'] as const) {
      const y = t('bf16', [N, C]);
      engine(be).embedding(t('i32', [N], ids), t('bf16', [V, C], table), y);
      const z = t('bf16', [N, C], randn(N * C, 71));
      engine(be).axpy(0.5, y, z);
      engine(be).add(y, z, z);
      got.push(host(z));
    }
    expect(Array.from(got[0]!)).toEqual(Array.from(got[1]!));
  });
});

describe('the bf16 refusal', () => {
  it.skipIf(cpuBf16)('ops refuse bf16 operands where the CPU backend has no bf16 kernels', () => {
    const a = t('bf16', [4, 4], randn(16, 80));
    expect(() => engine('cpu').gemm(a, a, t('f32', [4, 4]))).toThrow(/must be f32 on backend 'cpu'/);
  });
  it.skipIf(!cpuBf16)('backward, loss and optimiser ops refuse bf16 (bf16 on the CPU is inference)', () => {
    const x = t('bf16', [8], randn(8, 81));
    expect(() => engine('cpu').geluBackward(x, x, t('bf16', [8]))).toThrow(/must be f32 on backend 'cpu'/);
  });
});
