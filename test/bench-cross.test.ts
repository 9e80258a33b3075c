// bench/cross.ts (bench:cross) in its smallest form: one round, one iteration, the tiny size,
// ours and (when python3 has torch and transformers) the PyTorch peer on the same pair batch.
// It times nothing worth reading; it checks that both sides run and the JSON holds the ratios.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const havePeer = spawnSync('python3', ['-c', 'import torch, transformers'], { stdio: 'ignore' }).status === 0;

interface Row {
  size: string;
  ours: Array<{ scoreMs: number; trainMs: number }>;
  torch: Array<{ scoreMs: number; trainMs: number; attention: string }>;
  errors: string[];
  scoreRatio: number | null;
  trainRatio: number | null;
}

describe('bench:cross', () => {
  it('runs ours and the peer on the tiny size and writes the ratios', () => {
    if (!havePeer) console.warn('bench:cross: PyTorch peer skipped: python3 cannot import torch and transformers');
    const out = mkdtempSync(join(tmpdir(), 'biofeg-bench-cross-'));
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/cross.ts', '--sizes', 'tiny', '--rounds', '1', '--iters', '1', ...(havePeer ? [] : ['--no-peer'])],
      {
        env: { ...process.env, BIOFEG_BENCH_RESULTS: out },
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const [row] = (JSON.parse(readFileSync(join(out, 'cross-cpu.json'), 'utf8')) as { results: Row[] }).results;
    expect(row!.size).toBe('tiny');
    // Timings: only that they were measured (finite, positive); their ratio depends on the machine's load.
    for (const ms of [row!.ours[0]!.scoreMs, row!.ours[0]!.trainMs]) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThan(0);
    }
    if (havePeer) {
      expect(row!.errors).toEqual([]);
      expect(row!.trainRatio).toBeCloseTo(row!.torch[0]!.trainMs / row!.ours[0]!.trainMs, 9);
    } else expect(row!.scoreRatio).toBeNull();
  }, 300_000);
});
