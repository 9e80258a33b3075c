// The fast CPU backend's top-k over a bf16 pool (issue #5: 3M x 768 entity pools held in bf16):
// f32 queries, the pool widened block by block, so the result must equal -- exactly, ties
// included -- top-k over the f32 pool that holds the same bf16-rounded values.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { engine } from '../src/engine.js';
import { randn } from './support/rng.js';
import { withTensors } from './support/tensors.js';
import { sameLists } from './support/topk-lists.js';

const O = engine('cpu');

describe('cpu topk, bf16 pool', () => {
  for (const [Q, P, D, k, block] of [
    [7, 3000, 24, 10, 700],
    [3, 500, 8, 64, 0],
    [2, 40, 16, 40, 40],
  ] as const)
    it(`Q=${Q} P=${P} D=${D} k=${k} block=${block}: same as the f32 pool of the rounded values`, async () => {
      await withTensors(async (t) => {
        const q = t('cpu', 'f32', [Q, D], randn(Q * D, 51));
        const raw = randn(P * D, 52);
        for (let i = 0; i < 20; i++) raw.copyWithin(((i * 37) % (P - 1)) * D, 0, D); // duplicate rows: exact ties
        const p16 = t('cpu', 'bf16', [P, D], raw);
        const rounded = p16.download() as Float32Array; // the bf16 values, widened
        expect(rounded.some((x, i) => x !== raw[i])).toBe(true);
        const p32 = t('cpu', 'f32', [P, D], rounded);
        const s16 = t('cpu', 'f32', [Q, k]),
          i16 = t('cpu', 'i32', [Q, k]);
        const s32 = t('cpu', 'f32', [Q, k]),
          i32 = t('cpu', 'i32', [Q, k]);
        O.topk(q, p16, k, s16, i16, { block });
        O.topk(q, p32, k, s32, i32, { block });
        expect(Array.from(s16.download())).toEqual(Array.from(s32.download()));
        expect(Array.from(i16.download())).toEqual(Array.from(i32.download()));
        const s2 = t('cpu', 'f32', [Q, k]),
          i2 = t('cpu', 'i32', [Q, k]);
        await O.topkAsync(q, p16, k, s2, i2, { block });
        expect(Array.from(i2.download())).toEqual(Array.from(i32.download()));
      });
    });
});

// Few queries (up to 64, a service's batch) take another path: the pool block is the GEMM's A,
// read in place (bf16 widened as read), the queries its B. Each score must be the very sum of the
// many-query path, so a query's list is the same whichever batch it came in (serving = eval).
describe('cpu topk: a query gets the same list alone, in a small batch and in a large one', () => {
  for (const dtype of ['f32', 'bf16'] as const)
    for (const level of ['', 'avx2', 'generic'])
      it(`${dtype} pool${level ? `, BIOFEG_CPU_KERNEL=${level} (child process)` : ''}`, () => {
        if (level) {
          const script = join(dirname(fileURLToPath(import.meta.url)), 'support', 'topk-lists.ts');
          const r = spawnSync(process.execPath, ['--import', 'tsx', script, dtype], {
            env: { ...process.env, BIOFEG_CPU_KERNEL: level },
            encoding: 'utf8',
          });
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toContain('same lists');
          return;
        }
        expect(sameLists(dtype)).toBe('same lists');
      });
});
