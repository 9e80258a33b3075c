// The CPU GEMM gives a row the same bits whichever batch it comes in: a short batch against a
// weight (C = A W^T, up to 64 rows) reads the weight in place with the roles of A and W swapped,
// a long one packs it; serving one mention must give what evaluating it in a batch gives.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { sameRows } from './support/gemm-rows.js';

describe('cpu gemm: a row gets the same bits alone, in a small batch and in a large one', () => {
  for (const level of ['', 'avx2', 'generic'])
    it(level ? `BIOFEG_CPU_KERNEL=${level} (child process)` : 'the machine level', () => {
      if (level) {
        const script = join(dirname(fileURLToPath(import.meta.url)), 'support', 'gemm-rows.ts');
        const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
          env: { ...process.env, BIOFEG_CPU_KERNEL: level },
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe('same rows');
        return;
      }
      expect(sameRows()).toBe('same rows');
    });

  it('BIOFEG_GEMM_SWAP_M=0 (the packed path for every M; child process)', () => {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'support', 'gemm-rows.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, BIOFEG_GEMM_SWAP_M: '0' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('same rows');
  });
});
