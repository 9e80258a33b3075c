// GEMM rows computed alone, in small batches and in one large batch (the CPU GEMM's small-M path,
// weight read in place, and its packed path): 'same rows' when every row's C and pre-activation
// are identical bit for bit, else what differs. Run in a child process per BIOFEG_CPU_KERNEL level.
import { fileURLToPath } from 'node:url';

import { engine } from '../../src/engine.js';
import { engineInfo } from '../../src/native.js';
import { randn } from './rng.js';
import { withTensors } from './tensors.js';

const O = engine('cpu');

interface Case {
  K: number;
  N: number;
  epilogue: 'none' | 'bias-gelu-pre' | 'alpha-beta';
  /** bf16 A and W (the CPU's bf16 GEMM: AVX512_BF16 kernels where the CPU has them), C f32 or bf16. */
  dtype?: 'f32' | 'bf16' | 'bf16-c16';
}
export const GEMM_ROW_CASES: Case[] = [
  { K: 37, N: 100, epilogue: 'none' },
  { K: 800, N: 72, epilogue: 'bias-gelu-pre' }, // several K blocks at every level
  { K: 800, N: 40, epilogue: 'alpha-beta' },
  { K: 64, N: 300, epilogue: 'bias-gelu-pre' },
  { K: 800, N: 200, epilogue: 'bias-gelu-pre', dtype: 'bf16' },
  { K: 448, N: 130, epilogue: 'alpha-beta', dtype: 'bf16' },
  { K: 800, N: 72, epilogue: 'bias-gelu-pre', dtype: 'bf16-c16' },
];

export function sameRows(): string {
  return withTensors((t) => {
    // bf16 GEMMs exist on the CPU backend only at the AVX512_BF16 level (else refused).
    const bf16 = engineInfo().backends.cpu?.caps.opFloats.gemm?.includes('bf16') === true;
    for (const { K, N, epilogue, dtype = 'f32' } of GEMM_ROW_CASES) {
      if (dtype !== 'f32' && !bf16) continue;
      const ab = dtype === 'f32' ? 'f32' : 'bf16',
        c = dtype === 'bf16-c16' ? 'bf16' : 'f32';
      const M = 150; // above the small-M path's limit: the packed driver
      const a = randn(M * K, 71),
        c0 = randn(M * N, 73);
      const W = t('cpu', ab, [N, K], randn(N * K, 72));
      const bias = t('cpu', c, [N], randn(N, 74));
      const run = (m0: number, n: number) => {
        const C = t('cpu', c, [n, N], c0.subarray(m0 * N, (m0 + n) * N));
        const pre = t('cpu', c, [n, N]);
        const A = t('cpu', ab, [n, K], a.subarray(m0 * K, (m0 + n) * K));
        if (epilogue === 'none') O.gemm(A, W, C, { transB: true });
        else if (epilogue === 'alpha-beta') O.gemm(A, W, C, { transB: true, alpha: 1.3, beta: 0.7 });
        else O.gemm(A, W, C, { transB: true, bias, gelu: true, pre });
        return { c: C.download() as Float32Array, pre: pre.download() as Float32Array };
      };
      const all = run(0, M);
      for (const n of [1, 5, 8, 12, 16, 31, 33, 64]) {
        for (let m0 = 0; m0 + n <= M; m0 += 43) {
          const part = run(m0, n);
          for (const key of ['c', 'pre'] as const) {
            const want = all[key].subarray(m0 * N, (m0 + n) * N);
            const i = part[key].findIndex((v, j) => !Object.is(v, want[j]));
            if (i >= 0)
              return `${dtype} K ${K} N ${N} ${epilogue}: ${key} of ${n} rows at ${m0} differs at ${i}: ${part[key][i]} vs ${want[i]}`;
          }
        }
      }
    }
    return 'same rows';
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(sameRows());
