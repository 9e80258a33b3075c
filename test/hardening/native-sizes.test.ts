// Issue 16, class 2: every size that crosses into native code is overflow-checked. A shape whose
// element count wraps int64 (Tensor.view(0, [2**62, 4]) wrapped to 0 and gemm on it segfaulted on
// cpu and ref), a size or offset that is not an integer a double holds exactly, and a product of
// two tensors' sizes are refused with an ArgumentError naming the call, before any kernel runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { engine } from '../../src/engine.js';
import { ArgumentError } from '../../src/errors.js';
import { native, tensor } from '../../src/native.js';

const T = native().Tensor;
const argErr = (f: () => unknown, msg: RegExp): void => {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ArgumentError);
  expect((caught as ArgumentError).code).toBe('ERR_BIOFEG_ARGUMENT');
  expect((caught as Error).message).toMatch(msg);
};

// Shapes whose element count exceeds 2^40: powers of two whose exponents add up to 41..126 (so
// many of them wrap int64 to 0 or to a small count), each dim at most 2^53, with ones and zeros
// mixed in (a zero must not hide the others).
const hugeShape = fc
  .array(fc.integer({ min: 1, max: 53 }), { minLength: 1, maxLength: 4 })
  .filter((e) => e.reduce((a, b) => a + b, 0) > 40)
  .chain((e) =>
    fc.tuple(fc.shuffledSubarray([1, 1, 0]), fc.nat({ max: 4 })).map(([extra, at]) => {
      const s = e.map((x) => 2 ** x);
      s.splice(Math.min(at, s.length), 0, ...extra);
      return s.slice(0, 8);
    }),
  );

describe('native sizes', () => {
  it('the issue case: view(0, [2**62, 4]) is refused, and gemm never sees it (cpu, ref)', () => {
    const t = tensor('cpu', 'f32', [4]);
    argErr(() => t.view(0, [2 ** 62, 4]), /view: shape entries must be non-negative integers \(at most 2\^53\)/);
    argErr(() => t.view(0, [2 ** 31, 2 ** 31, 4]), /view: shape \[2147483648,2147483648,4\] is too large/);
    for (const be of ['cpu', 'ref'] as const) {
      const B = tensor('cpu', 'f32', [4, 4]);
      expect(() => engine(be).gemm(t.view(0, [1, 4]), B, tensor('cpu', 'f32', [1, 4]))).not.toThrow();
    }
  });

  it('shapes whose element count passes 2^40 (wrapping or not) are refused by the constructor and by view', () => {
    const t = tensor('cpu', 'f32', [8]);
    fc.assert(
      fc.property(hugeShape, fc.constantFrom('f32', 'bf16', 'i32'), (shape, dtype) => {
        argErr(() => new T('cpu', dtype, shape), /tensor: shape \[.*\] is too large \(at most 2\^40 elements\)/i);
        argErr(() => t.view(0, shape), /view: shape \[.*\] is too large/);
      }),
      { seed: 2, numRuns: 200 },
    );
  });

  it('sizes and offsets are integers in [0, 2^53]: NaN, infinities, fractions, negatives and 2^63 are refused before any cast', () => {
    const t = tensor('cpu', 'f32', [8]);
    const bad = [Number.NaN, Infinity, -Infinity, -1, 0.5, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, -1e300];
    for (const x of bad) {
      argErr(() => new T('cpu', 'f32', [x]), /Tensor: shape entries must be non-negative integers/);
      argErr(() => t.view(0, [x]), /view: shape entries must be non-negative integers/);
      argErr(() => t.view(x, [1]), /view: offset must be a non-negative integer \(at most 2\^53\), got/);
    }
    argErr(() => t.view(0, ['4' as unknown as number]), /shape entries must be non-negative integers, got a non-number/);
    // A sparse array of 2^32 - 1 holes is refused by its length, not walked.
    argErr(() => new T('cpu', 'f32', new Array(2 ** 32 - 1)), /at most 8 dimensions/);
    argErr(() => t.view(0, [1, 1, 1, 1, 1, 1, 1, 1, 1]), /at most 8 dimensions/);
  });

  it('a view fits inside its storage: offset + count never passes the end, whatever the offset', () => {
    const t = tensor('cpu', 'f32', [16]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 53 }), fc.array(fc.integer({ min: 0, max: 64 }), { maxLength: 3 }), (off, shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        if (off <= 16 && n <= 16 - off) {
          const v = t.view(off, shape);
          expect(v.download().length).toBe(n);
        } else argErr(() => t.view(off, shape), /view: .* does not fit inside f32\[16\]@cpu/);
      }),
      { seed: 3, numRuns: 300 },
    );
  });

  it('zero-sized tensors may not carry a huge dimension (the product of the non-zero dims is bounded)', () => {
    argErr(() => new T('cpu', 'f32', [0, 2 ** 41]), /too large/);
    argErr(() => tensor('cpu', 'f32', [4]).view(0, [0, 2 ** 50, 2]), /too large/);
    expect(new T('cpu', 'f32', [0, 2 ** 20]).nbytes).toBe(0);
  });

  it('embedding: ids x width of two tensors is checked, so a product past 2^40 is not compared wrapped', () => {
    // 2^21 ids and a width of 2^20 (an empty table [0, 2^20]): ids x width = 2^41.
    const ids = tensor('cpu', 'i32', [2 ** 21]);
    const table = tensor('cpu', 'f32', [0, 2 ** 20]);
    for (const be of ['cpu', 'ref'] as const) {
      argErr(() => engine(be).embedding(ids, table, tensor('cpu', 'f32', [0])), /embedding: ids x width = 2097152 x 1048576 exceeds 2\^40/);
      argErr(() => engine(be).embeddingBackward(ids, tensor('cpu', 'f32', [0]), table), /embeddingBackward: ids x width/);
    }
  });

  it('adamw step: a huge negative step is refused, not cast', () => {
    const p = tensor('cpu', 'f32', [2]);
    for (const step of [-1e300, 0, 1.5, Number.NaN]) argErr(() => engine('cpu').adamw(p, p, p, p, null, { step }), /adamw: /);
  });

  it('every op, called well-formed on every pool of dims with a zero and a 2^36, ends at once in a result or a typed error', () => {
    // Tensors that hold nothing but span 2^36 rows: attention looped over them (qkv [1, 0, 3, 2^36,
    // 2] hung). In a child process, so a hang or a crash fails this test, naming the case.
    const script = `
import { degenerateCases, runOpCase, showCase } from ${JSON.stringify(join(import.meta.dirname, '..', 'fuzz', 'native-targets.ts'))};
import { BiofegError } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'errors.ts'))};
let ran = 0;
for (const c of degenerateCases()) {
  const t0 = performance.now();
  process.stderr.write(showCase(c) + '\\n');
  try { await runOpCase(c); } catch (e) { if (!(e instanceof BiofegError)) throw new Error('untyped: ' + String(e) + ' in ' + showCase(c)); }
  if (performance.now() - t0 > 1000) throw new Error('slow: ' + showCase(c));
  ran++;
}
console.log(ran);
`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    const last = r.stderr.trim().split('\n').pop();
    expect(r.status, `${r.signal ?? ''}: the last case: ${last}\n${r.stderr.slice(-1500)}`).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(1000);
  });
});
