// Top-k lists of the same queries asked alone, in small batches and in one large batch (the
// few-query and many-query paths of the CPU top-k): 'same lists' when every list is identical.
import { fileURLToPath } from 'node:url';

import { engine } from '../../src/engine.js';
import { randn } from './rng.js';
import { withTensors } from './tensors.js';

const O = engine('cpu');

// A pool wider than the GEMM's tile columns and blocks; an entity width of several K blocks (768:
// 2 at every level); one past the K that weight-gradient GEMMs split (2048), on a small pool.
const SHAPES = [
  [150, 20011, 40, 12],
  [150, 3001, 768, 12],
  [150, 301, 2100, 5],
] as const;

export function sameLists(dtype: 'f32' | 'bf16'): string {
  for (const shape of SHAPES) {
    const [Q, P, D, k] = shape;
    const verdict = sameListsAt(dtype, Q, P, D, k);
    if (verdict !== 'same lists') return `Q ${shape[0]} P ${shape[1]} D ${shape[2]}: ${verdict}`;
  }
  return 'same lists';
}

function sameListsAt(dtype: 'f32' | 'bf16', Q: number, P: number, D: number, k: number): string {
  return withTensors((t) => {
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
  });
}

// As a script (the test's child processes, each with its BIOFEG_CPU_KERNEL): prints the verdict.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dtype = process.argv[2];
  if (dtype !== 'f32' && dtype !== 'bf16') throw new Error('usage: topk-lists.ts f32|bf16');
  process.stdout.write(`${sameLists(dtype)}\n`);
}
