// bench:index-load runs small (--rows, a tiny checkpoint, one round) and writes its result file:
// the bench itself is for a quiet machine (1,000,000 x 768 bf16, base size), not for the suite.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

import { cpuId } from '../../bench/common.js';
import { cleanup, ROOT, tmp } from '../eval/retrieve-helpers.js';

afterAll(cleanup);

it('bench:index-load --rows 20000 --size tiny --rounds 1 writes its JSON', () => {
  const out = tmp('biofeg-bench-index-load-');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/index-load.ts', '--rows', '20000', '--size', 'tiny', '--rounds', '1'], {
    cwd: ROOT,
    env: { ...process.env, BIOFEG_BENCH_RESULTS: out },
    encoding: 'utf8',
    timeout: 180_000,
  });
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  const j = JSON.parse(readFileSync(join(out, `index-load-cpu-${cpuId().tag}.json`), 'utf8')) as {
    settings: Record<string, unknown>;
    rounds: Array<{ loadMs: number; rssBeforeMiB: number; rssAfterMiB: number }>;
    summary: {
      bestMs: number;
      medianMs: number;
      vectorsMiB: number;
      underBar: boolean | null;
      underBarMedian: boolean | null;
      underBarBest: boolean | null;
    };
  };
  expect(j.settings).toMatchObject({ rows: 20000, dtype: 'bf16', size: 'tiny', rounds: 1, device: 'cpu' });
  expect(j.rounds).toHaveLength(1);
  expect(j.rounds[0]!.loadMs).toBeGreaterThan(0);
  expect(j.summary.bestMs).toBe(j.rounds[0]!.loadMs);
  expect(j.summary.vectorsMiB).toBeCloseTo((20000 * (j.settings['dim'] as number) * 2) / 2 ** 20, 6);
  expect(r.stdout).toMatch(/best \d+ ms, median \d+ ms/);
  // The bar is judged only at 1,000,000 x 768.
  expect([j.summary.underBar, j.summary.underBarMedian, j.summary.underBarBest]).toEqual([null, null, null]);
}, 200_000);
