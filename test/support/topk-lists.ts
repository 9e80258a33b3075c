// Top-k lists of the same queries asked alone, in small batches and in one large batch (the
// few-query and many-query paths of the CPU top-k): 'same lists' when every list is identical.
import { fileURLToPath } from 'node:url';

import { engine } from '../../src/engine.js';
import { tensor, type NativeTensor } from '../../src/native.js';
import { randn } from './rng.js';

const O = engine('cpu');

export function sameLists(dtype: 'f32' | 'bf16'): string {
  const [Q, P, D, k] = [150, 20011, 40, 12];
  const made: NativeTensor[] = [];
  const t = (...a: Parameters<typeof tensor>) => {
    const x = tensor(...a);
    made.push(x);
    return x;
  };
  try {
    const qs = randn(Q * D, 61);
    const raw = randn(P * D, 62);
    for (let i = 0; i < 30; i++) raw.copyWithin(((i * 613) % (P - 1)) * D, 5 * D, 6 * D); // exact ties
    const pool = t('cpu', dtype, [P, D], raw);
    const run = (q0: number, n: number) => {
      const s = t('cpu', 'f32', [n, k]),
        ix = t('cpu', 'i32', [n, k]);
      O.topk(t('cpu', 'f32', [n, D], qs.subarray(q0 * D, (q0 + n) * D)), pool, k, s, ix);
      return { s: Array.from(s.download()), ix: Array.from(ix.download()) };
    };
    const all = run(0, Q); // more than 64 queries: the many-query path
    for (const n of [1, 7, 64]) {
      for (let q0 = 0; q0 + n <= Q; q0 += 41) {
        const part = run(q0, n);
        const want = { s: all.s.slice(q0 * k, (q0 + n) * k), ix: all.ix.slice(q0 * k, (q0 + n) * k) };
        if (JSON.stringify(part) !== JSON.stringify(want)) return `batch of ${n} at ${q0} differs`;
      }
    }
    return 'same lists';
  } finally {
    for (const x of made) x.dispose();
  }
}

// As a script (the test's child processes, each with its BIOFEG_CPU_KERNEL): prints the verdict.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dtype = process.argv[2];
  if (dtype !== 'f32' && dtype !== 'bf16') throw new Error('usage: topk-lists.ts f32|bf16');
  process.stdout.write(`${sameLists(dtype)}\n`);
}
