// bench/bert-real.ts (bench:bert --shapes real, issue 21) in its --smoke form: every shape's code
// path with a tiny BERT, ours on the emulated CUDA build (cuemu) and the PyTorch peer on the CPU.
// Smoke runs time nothing worth reading; they check the script runs, computes MFU and writes JSON.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import { REAL_SHAPES, stepFlops } from '../bench/bert-real-shapes.js';

const emuAddon = resolve('build-emu/Release/biofeg.node');
const havePeer = spawnSync('python3', ['-c', 'import torch, transformers'], { stdio: 'ignore' }).status === 0;

interface Row {
  shape: string;
  gflopPerStep: number;
  ours: { seqPerSec: number; mfu?: number; deviceMiB?: number };
  peers: Array<{ side: string; seqPerSec?: number; error?: string }>;
  ratio?: number;
}

function bench(args: string[], env: Record<string, string>, file: string): { rows: Row[]; stdout: string } {
  const out = mkdtempSync(join(tmpdir(), 'biofeg-bert-real-'));
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'bench/bert.ts', '--shapes', 'real', '--smoke', '--peak-tflops', '1', ...args],
    {
      env: { ...process.env, ...env, BIOFEG_BENCH_RESULTS: out },
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  return { rows: (JSON.parse(readFileSync(join(out, file), 'utf8')) as { results: Row[] }).results, stdout: r.stdout };
}

describe('bench:bert --shapes real --smoke', () => {
  it('counts BERT-base train64 FLOPs as 3 x forward on the real tokens', () => {
    // 96 real tokens of 128; 12 layers of h 768, I 3072; 128 sequences.
    const n = 96,
      perSeq = 12 * (2 * n * (4 * 768 * 768 + 2 * 768 * 3072) + 4 * n * n * 768);
    expect(stepFlops(REAL_SHAPES.train64, { hidden: 768, layers: 12, intermediate: 3072 })).toBe(128 * perSeq * 3);
  });

  it.skipIf(!existsSync(emuAddon))('every shape on cuda (cuemu): seq/s, MFU and device memory', () => {
    const { rows, stdout } = bench(['--device', 'cuda', '--no-peer'], { BIOFEG_ADDON: emuAddon }, 'bert-real-cuda-bf16-smoke.json');
    expect(rows.map((r) => r.shape)).toEqual(['train64', 'train128', 'hard', 'encode256']);
    for (const r of rows) {
      expect(r.ours.seqPerSec).toBeGreaterThan(0);
      expect(r.ours.mfu).toBeGreaterThan(0);
      expect(r.ours.deviceMiB).toBeGreaterThan(0);
    }
    expect(stdout).toMatch(/SMOKE/);
    expect(stdout).toMatch(/model FLOPs on the real tokens/);
  });

  it.skipIf(!havePeer)('the PyTorch peer, eager and torch.compile (backend eager), on the CPU', () => {
    const { rows } = bench(
      ['--device', 'cpu', '--threads', '2', '--only', 'hard,encode256', '--compile-backend', 'eager'],
      {},
      'bert-real-cpu-f32-smoke.json',
    );
    for (const r of rows) {
      expect(r.peers.map((p) => p.side)).toEqual(['torch-eager', 'torch-compile']);
      for (const p of r.peers) expect(p.error, p.side).toBeUndefined();
      expect(r.ratio).toBeGreaterThan(0);
    }
  });
});
