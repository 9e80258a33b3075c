// Every native entry point checks its arguments and throws a JS Error naming the op and the
// mismatch; none of these calls may crash the process.
import { describe, expect, it } from 'vitest';

import { engine, pickDevice } from '../src/engine.js';
import { bytesInUse, engineInfo, native, tensor } from '../src/native.js';

const O = engine('cpu');
const f32 = (shape: number[], data?: Float32Array) => tensor('cpu', 'f32', shape, data);
const i32 = (shape: number[], data?: Int32Array) => tensor('cpu', 'i32', shape, data);

describe('Tensor', () => {
  it('rejects bad constructors and uploads', () => {
    const T = native().Tensor as unknown as new (...a: unknown[]) => unknown;
    expect(() => new T('cpu', 'f16', [2])).toThrow(/dtype must be/);
    expect(() => new T('tpu', 'f32', [2])).toThrow(/device must be/);
    expect(() => new T('cpu', 'f32', [-1])).toThrow(/non-negative integers/);
    expect(() => new T('cpu', 'f32', [1.5])).toThrow(/non-negative integers/);
    expect(() => new T('cpu', 'f32', [1e9, 1e9])).toThrow(/too large/);
    expect(() => new T('cpu', 'f32')).toThrow(/expected/);
    const t = f32([2, 2]);
    expect(() => t.upload(new Float32Array(3))).toThrow(/needs 4 elements, got 3/);
    expect(() => t.upload(new Int32Array(4))).toThrow(/takes a Float32Array/);
    expect(() => i32([2]).upload(new Float32Array(2))).toThrow(/takes a Int32Array/);
  });

  it('round-trips f32, i32 and bf16 (rounded to nearest even)', () => {
    expect(Array.from(f32([3], new Float32Array([1, -2, 3.5])).download())).toEqual([1, -2, 3.5]);
    expect(Array.from(i32([2], new Int32Array([7, -9])).download())).toEqual([7, -9]);
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: a value that bf16 must round (to 3.140625).
    const b = tensor('cpu', 'bf16', [3], new Float32Array([1, 1.00390625, 3.14159]));
    expect(b.nbytes).toBe(6);
    expect(Array.from(b.download())).toEqual([1, 1, 3.140625]);
  });

  it('dispose frees memory and later use throws', () => {
    const before = bytesInUse('cpu');
    const t = f32([1000]);
    expect(bytesInUse('cpu')).toBe(before + 4000);
    t.dispose();
    expect(bytesInUse('cpu')).toBe(before);
    expect(t.disposed).toBe(true);
    expect(() => t.download()).toThrow(/disposed/);
    expect(() => O.gelu(t, f32([1000]))).toThrow(/gelu: x has been disposed/);
  });

  it('views share memory, keep it alive and check their range', () => {
    const flat = f32([6], new Float32Array([0, 1, 2, 3, 4, 5]));
    const v = flat.view(2, [2, 2]);
    expect(v.shape).toEqual([2, 2]);
    expect(Array.from(v.download())).toEqual([2, 3, 4, 5]);
    O.scale(v, v, 10);
    expect(Array.from(flat.download())).toEqual([0, 1, 20, 30, 40, 50]);
    const before = bytesInUse('cpu');
    flat.dispose();
    expect(bytesInUse('cpu')).toBe(before); // the view still holds the storage
    expect(Array.from(v.view(3, [1]).download())).toEqual([50]);
    expect(() => v.view(1, [4])).toThrow(/view: \[4\] at offset 1 does not fit inside f32\[2,2\]@cpu/);
    expect(() => v.view(-1, [1])).toThrow(/offset must be a non-negative integer/);
  });

  it('copyFrom checks dtype and size', () => {
    const a = f32([4], new Float32Array([1, 2, 3, 4])),
      b = f32([2, 2]);
    b.copyFrom(a);
    expect(Array.from(b.download())).toEqual([1, 2, 3, 4]);
    expect(() => b.copyFrom(i32([4]))).toThrow(/does not fit/);
    expect(() => b.copyFrom(f32([5]))).toThrow(/does not fit/);
  });
});

describe('device choice', () => {
  it('auto picks what exists; asking for a missing CUDA is a clear error', () => {
    const info = engineInfo();
    expect(pickDevice('cpu')).toBe('cpu');
    if (info.cudaDevices === 0) {
      expect(pickDevice('auto')).toBe('cpu');
      expect(() => pickDevice('cuda')).toThrow(/cuda/);
      expect(() => tensor('cuda', 'f32', [2])).toThrow(/CUDA/);
      expect(() => engine('cuda')).toThrow(/backend 'cuda': (this build has no CUDA backend|no CUDA device)/);
    } else {
      expect(pickDevice('auto')).toBe('cuda');
    }
  });
});

describe('op argument checks', () => {
  const cases: Array<[string, () => void, RegExp]> = [
    ['unknown backend', () => engine('gpu' as 'cpu'), /unknown backend 'gpu'/],
    ['not a tensor', () => O.gelu({} as never, f32([2])), /gelu: argument 'x' must be a Tensor/],
    ['missing arguments', () => (O.gelu as unknown as () => void)(), /gelu: expected at least 2 arguments/],
    ['shape mismatch', () => O.add(f32([2]), f32([3]), f32([2])), /add: 'a' f32\[2\]@cpu and 'b' f32\[3\]@cpu must have the same shape/],
    [
      // The CPU takes bf16 for inference ops only (and only with AVX512_BF16): a backward never.
      'bf16 backward on a host backend',
      () => O.reluBackward(tensor('cpu', 'bf16', [2]), tensor('cpu', 'bf16', [2]), tensor('cpu', 'bf16', [2])),
      /reluBackward: 'x' must be f32 on backend 'cpu', got bf16/,
    ],
    ['i32 where floats go', () => engine('ref').tanh(i32([2]), i32([2])), /tanh: 'x' must be f32/],
    [
      'gemm inner dims',
      () => O.gemm(f32([2, 3]), f32([4, 5]), f32([2, 5])),
      /gemm: inner dimensions differ: op\(A\) is 2x3, op\(B\) is 4x5/,
    ],
    ['gemm output shape', () => O.gemm(f32([2, 3]), f32([3, 5]), f32([2, 4])), /gemm: C must be 2x5/],
    ['gemm rank mix', () => O.gemm(f32([1, 2, 3]), f32([3, 5]), f32([2, 5])), /must all be 2-D or all 3-D/],
    ['gemm batch mismatch', () => O.gemm(f32([2, 2, 3]), f32([3, 3, 5]), f32([2, 2, 5])), /batch sizes differ/],
    ['gemm bias length', () => O.gemm(f32([2, 3]), f32([3, 5]), f32([2, 5]), { bias: f32([4]) }), /gemm: 'bias' must have 5 elements/],
    ['gemm NaN alpha', () => O.gemm(f32([2, 3]), f32([3, 5]), f32([2, 5]), { alpha: NaN }), /gemm: 'alpha' must be finite/],
    [
      'gemm option type',
      () => O.gemm(f32([2, 3]), f32([3, 5]), f32([2, 5]), { transA: 1 as unknown as boolean }),
      /option 'transA' must be a boolean/,
    ],
    [
      'embedding id out of range',
      () => O.embedding(i32([2], new Int32Array([0, 9])), f32([4, 3]), f32([2, 3])),
      /embedding: ids\[1\] = 9 is outside \[0, 4\)/,
    ],
    ['embedding negative id', () => O.embeddingBackward(i32([1], new Int32Array([-1])), f32([1, 3]), f32([4, 3])), /ids\[0\] = -1/],
    ['embedding ids dtype', () => O.embedding(f32([2]), f32([4, 3]), f32([2, 3])), /'ids' must be i32/],
    [
      'xent target too large',
      () => O.crossEntropy(f32([2, 3]), i32([2], new Int32Array([0, 3])), f32([2])),
      /targets\[1\] = 3 is not below the class count 3/,
    ],
    ['xent loss size', () => O.crossEntropy(f32([2, 3]), i32([2]), f32([3])), /'loss' must have 2 elements/],
    ['layernorm eps', () => O.layernorm(f32([2, 3]), f32([3]), f32([3]), f32([2, 3]), f32([2]), f32([2]), 0), /eps must be positive/],
    [
      'layernorm weight size',
      () => O.layernorm(f32([2, 3]), f32([4]), f32([4]), f32([2, 3]), f32([2]), f32([2]), 1e-5),
      /'weight' must have 3 elements/,
    ],
    ['dropout p = 1', () => O.dropout(f32([2]), f32([2]), 1, 0, 0), /dropout probability must be in \[0, 1\)/],
    ['dropout negative seed', () => O.dropout(f32([2]), f32([2]), 0.1, -1, 0), /'seed' must be a non-negative integer/],
    [
      'attention qkv layout',
      () => O.attention(f32([1, 4, 2, 1, 8]), null, f32([1, 4, 1, 8]), f32([1, 1, 4])),
      /qkv must be \[B, T, 3, H, D\]/,
    ],
    [
      'attention mask shape',
      () => O.attention(f32([1, 4, 3, 1, 8]), i32([1, 5]), f32([1, 4, 1, 8]), f32([1, 1, 4])),
      /'mask' must have shape \[1,4\]/,
    ],
    ['attention lse dtype', () => O.attention(f32([1, 4, 3, 1, 8]), null, f32([1, 4, 1, 8]), i32([1, 1, 4])), /'lse' must be f32/],
    ['concat widths', () => O.concat(f32([2, 3]), f32([2, 4]), f32([2, 6])), /concat: y f32\[2,6\]@cpu must hold/],
    ['adamw sizes', () => O.adamw(f32([4]), f32([4]), f32([3]), f32([4]), null), /adamw: 'm' must have 4 elements/],
    ['adamw step', () => O.adamw(f32([4]), f32([4]), f32([4]), f32([4]), null, { step: 0 }), /step must be an integer >= 1/],
    ['topk k > pool', () => O.topk(f32([1, 4]), f32([3, 4]), 5, f32([1, 5]), i32([1, 5])), /k = 5 exceeds the pool size 3/],
    [
      'topk k > 1024',
      () => O.topk(f32([1, 4]), f32([2000, 4]), 2000, f32([1, 2000]), i32([1, 2000])),
      /k must be an integer in \[1, 1024\]/,
    ],
    ['topk widths', () => O.topk(f32([1, 4]), f32([3, 5]), 1, f32([1, 1]), i32([1, 1])), /must have the same width/],
    ['topk index dtype', () => O.topk(f32([1, 4]), f32([3, 4]), 1, f32([1, 1]), f32([1, 1])), /'index' must be i32/],
    ['mse out size', () => O.mse(f32([3]), f32([3]), f32([2])), /'out' must have 1 elements/],
    ['gemm bCols', () => O.gemm(f32([2, 3]), f32([3, 4]), f32([2, 5]), { bCols: 5 }), /bCols must be an integer in \[1, 4\]/],
    ['rowAxpy factors', () => O.rowAxpy(f32([3]), f32([2, 4]), f32([2, 4])), /rowAxpy: 'a' must have 2 elements/],
    ['rowAxpy shapes', () => O.rowAxpy(f32([2]), f32([2, 4]), f32([2, 5])), /must have the same shape/],
    ['gradPenalty norms dtype', () => O.gradPenalty(f32([2, 4]), 10, f32([2, 4]), i32([2])), /'norms' must be f32/],
    ['gradPenalty lambda', () => O.gradPenalty(f32([2, 4]), Number.NaN, f32([2, 4]), f32([2])), /'lambda' must be finite/],
  ];
  for (const [name, call, msg] of cases) it(name, () => expect(call).toThrow(msg));

  it('topkAsync rejects bad arguments synchronously and runs off the event loop', async () => {
    expect(() => O.topkAsync(f32([1, 4]), f32([3, 4]), 9, f32([1, 9]), i32([1, 9]))).toThrow(/exceeds the pool size/);
    const s = f32([2, 2]),
      ix = i32([2, 2]);
    const p = O.topkAsync(
      f32([2, 3], new Float32Array([1, 0, 0, 0, 1, 0])),
      f32([3, 3], new Float32Array([0, 1, 0, 1, 0, 0, 0, 0, 1])),
      2,
      s,
      ix,
    );
    expect(p).toBeInstanceOf(Promise);
    await p;
    expect(Array.from(ix.download())).toEqual([1, 0, 0, 1]);
  });
});
