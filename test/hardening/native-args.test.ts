// Issue 16, class 8 (the native items) and the native errors' types: attention masks are 0/1,
// setThreads takes an integer count, typed arrays backed by a SharedArrayBuffer upload like any
// other (and a wrong typed array is named), and every native failure is a BiofegError with a code
// that survives the hop from a worker thread.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { engine } from '../../src/engine.js';
import { ArgumentError, BiofegError, DeviceUnavailableError, fromWire, toWire } from '../../src/errors.js';
import { engineInfo, native, setThreads, tensor } from '../../src/native.js';
import { nativeBertClass } from '../../src/models/bert-native.js';

const caught = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};
const argErr = (f: () => unknown, msg: RegExp): void => {
  const e = caught(f);
  expect(e).toBeInstanceOf(ArgumentError);
  expect((e as Error).message).toMatch(msg);
};

const shared = <A extends Float32Array | Int32Array>(Ctor: new (b: SharedArrayBuffer) => A, values: number[]): A => {
  const a = new Ctor(new SharedArrayBuffer(values.length * 4));
  a.set(values);
  return a;
};

describe('attention masks are 0 or 1', () => {
  const B = 2,
    Tn = 3,
    H = 1,
    D = 4;
  // Any mask with one entry outside {0, 1} (at a generated place) is refused on both host
  // backends, forward and backward; all-0/1 masks run.
  const maskArb = fc.tuple(
    fc.array(fc.constantFrom(0, 1), { minLength: B * Tn, maxLength: B * Tn }),
    fc.nat({ max: B * Tn - 1 }),
    fc.oneof(
      fc.constantFrom(2, -7, -1, 2 ** 31 - 1, -(2 ** 31)),
      fc.integer().filter((x) => x !== 0 && x !== 1),
    ),
  );
  for (const be of ['cpu', 'ref'] as const) {
    it(`${be}: a mask value such as 2 or -7 is an ArgumentError naming the entry`, () => {
      const E = engine(be);
      const qkv = tensor(
        'cpu',
        'f32',
        [B, Tn, 3, H, D],
        new Float32Array(B * Tn * 3 * H * D).map((_, i) => Math.sin(i)),
      );
      const out = tensor('cpu', 'f32', [B, Tn, H, D]);
      const lse = tensor('cpu', 'f32', [B, H, Tn]);
      fc.assert(
        fc.property(maskArb, ([bits, at, bad]) => {
          const good = tensor('cpu', 'i32', [B, Tn], Int32Array.from(bits));
          E.attention(qkv, good, out, lse);
          const m = Int32Array.from(bits);
          m[at] = bad;
          const mask = tensor('cpu', 'i32', [B, Tn], m);
          const where = `mask\\[${Math.floor(at / Tn)}, ${at % Tn}\\] = ${bad} must be 0 \\(padding\\) or 1`;
          argErr(() => E.attention(qkv, mask, out, lse), new RegExp(`^attention: ${where}`));
          argErr(
            () => E.attentionBackward(qkv, mask, out, tensor('cpu', 'f32', out.shape), lse, tensor('cpu', 'f32', qkv.shape)),
            new RegExp(`^attentionBackward: ${where}`),
          );
        }),
        { seed: 5, numRuns: 60 },
      );
    });
  }
});

describe('setThreads', () => {
  it('takes an integer in 0..1024 and refuses NaN, fractions, negatives, infinities and non-numbers', () => {
    const before = engineInfo().threads;
    try {
      expect(setThreads(1)).toBe(1);
      for (const n of [Number.NaN, 2.5, -1, 1025, Infinity, -Infinity, 2 ** 32 + 1])
        argErr(() => setThreads(n), /setThreads: expected an integer in 0\.\.1024 \(0 = all cores\), got/);
      argErr(() => setThreads('2' as unknown as number), /setThreads: expected a number/);
      expect(engineInfo().threads).toBe(1); // a refused call changed nothing
    } finally {
      setThreads(before);
    }
  });
});

describe('typed arrays backed by a SharedArrayBuffer', () => {
  it('upload like any other (f32, bf16, i32), also at an offset into the buffer', () => {
    expect(Array.from(tensor('cpu', 'f32', [3], shared(Float32Array, [1, -2, 3.5])).download())).toEqual([1, -2, 3.5]);
    expect(Array.from(tensor('cpu', 'bf16', [2], shared(Float32Array, [1, 0.5])).download())).toEqual([1, 0.5]);
    expect(Array.from(tensor('cpu', 'i32', [2], shared(Int32Array, [7, -9])).download())).toEqual([7, -9]);
    const sab = new SharedArrayBuffer(32);
    new Float32Array(sab).set([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(tensor('cpu', 'f32', [3], new Float32Array(sab, 12, 3)).download())).toEqual([3, 4, 5]);
  });

  it('feed a BertModel (ids and mask)', () => {
    const cfg = { vocabSize: 20, hiddenSize: 8, numLayers: 1, numHeads: 2, intermediateSize: 16, maxPositions: 8 };
    const m = new (nativeBertClass())(cfg, 'cpu');
    const ids = [2, 5, 7, 3];
    const a = m.forward({ inputIds: Int32Array.from(ids), attentionMask: Int32Array.from([1, 1, 1, 0]), batch: 1, seq: 4 });
    const ref = Array.from(a.cls.download());
    const b = m.forward({ inputIds: shared(Int32Array, ids), attentionMask: shared(Int32Array, [1, 1, 1, 0]), batch: 1, seq: 4 });
    expect(Array.from(b.cls.download())).toEqual(ref);
  });

  it('a typed array of another type is named, with the type expected', () => {
    const t = tensor('cpu', 'f32', [2]);
    argErr(
      () => t.upload(new Float64Array(2) as unknown as Float32Array),
      /upload: a f32\[2\]@cpu tensor takes a Float32Array, got a Float64Array/,
    );
    argErr(() => t.upload(new Uint8Array(new SharedArrayBuffer(8)) as unknown as Float32Array), /takes a Float32Array, got a Uint8Array/);
    argErr(() => t.upload([1, 2] as unknown as Float32Array), /upload: expected one typed array \(a Float32Array for f32\[2\]@cpu\)/);
  });
});

describe('native errors are typed', () => {
  it('an argument error is an ArgumentError (a BiofegError, code ERR_BIOFEG_ARGUMENT) and survives the worker hop', () => {
    const e = caught(() => engine('cpu').gelu(tensor('cpu', 'f32', [2]), tensor('cpu', 'f32', [3])));
    expect(e).toBeInstanceOf(BiofegError);
    expect(e).toBeInstanceOf(ArgumentError);
    expect((e as ArgumentError).code).toBe('ERR_BIOFEG_ARGUMENT');
    const back = fromWire(toWire(e));
    expect(back).toBeInstanceOf(ArgumentError);
    expect(back.message).toBe((e as Error).message);
  });

  it('a missing device is a DeviceUnavailableError', () => {
    if (engineInfo().cudaDevices > 0) return;
    const e = caught(() => new (native().Tensor)('cuda', 'f32', [2]));
    expect(e).toBeInstanceOf(DeviceUnavailableError);
    expect((e as DeviceUnavailableError).code).toBe('ERR_BIOFEG_DEVICE');
    expect(caught(() => native().backend('cuda'))).toBeInstanceOf(DeviceUnavailableError);
    expect(
      caught(
        () =>
          new (nativeBertClass())({ vocabSize: 4, hiddenSize: 4, numLayers: 1, numHeads: 1, intermediateSize: 4, maxPositions: 4 }, 'cuda'),
      ),
    ).toBeInstanceOf(DeviceUnavailableError);
    expect(caught(() => native().backend('tpu' as 'cpu'))).toBeInstanceOf(ArgumentError);
  });

  it("topkAsync's checks run before it returns, with the same type", () => {
    const q = tensor('cpu', 'f32', [1, 4]);
    const p = tensor('cpu', 'f32', [3, 4]);
    argErr(
      () => engine('cpu').topkAsync(q, p, 5, tensor('cpu', 'f32', [1, 5]), tensor('cpu', 'i32', [1, 5])),
      /topk: k = 5 exceeds the pool size 3/,
    );
  });
});
