// The C++ selftests of the emulated-CUDA build (build-emu/, `npm run build:emu`), run by the
// cuemu test project: every CUDA op against the reference backend through the cuBLAS path (the
// emulator's stand-in) and through the hand-written GEMM, once more with threads and blocks in
// reverse order (exposes order-dependent races), and the emulator's own test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = resolve('build-emu');
const asanExe = resolve('build-emu-asan/biofeg_cuda_selftest');
if (!existsSync(asanExe))
  console.warn(`cuemu under AddressSanitizer skipped: ${asanExe} absent (npm run build:emu-asan builds it; CI does)`);

function run(exe: string, env: Record<string, string> = {}): { passed: number; failed: number; out: string } {
  const path = resolve(dir, exe);
  if (!existsSync(path)) throw new Error(`${path} is missing: npm run build:emu builds it`);
  const r = spawnSync(path, [], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 600_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const m = /(\d+) passed, (\d+) failed\s*$/.exec(out);
  if (r.status !== 0 || !m)
    throw new Error(
      `${exe} exited with ${r.status ?? r.signal}:\n${out
        .split('\n')
        .filter((l) => !l.startsWith('ok '))
        .join('\n')}`,
    );
  return { passed: Number(m[1]), failed: Number(m[2]), out };
}

/** Runs a bench script on the emulated build with its results in a temp folder; returns file's JSON. */
function bench<T>(script: string, args: string[], file: string): T {
  const out = mkdtempSync(join(tmpdir(), 'biofeg-bench-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}`, ...args], {
    env: { ...process.env, BIOFEG_BENCH_RESULTS: out },
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  return JSON.parse(readFileSync(join(out, file), 'utf8')) as T;
}

describe('CUDA backend under cuemu (CPU emulation, not a GPU result)', () => {
  it('biofeg_cuda_selftest, cuBLAS path (emulated cuBLAS)', () => {
    const r = run('biofeg_cuda_selftest');
    expect(r.out).toMatch(/gemm engine: cublas \(cuemu/);
    expect(r.failed).toBe(0);
    expect(r.passed).toBeGreaterThan(200);
  });
  it('biofeg_cuda_selftest, hand-written GEMM (BIOFEG_CUBLAS=off)', () => {
    const r = run('biofeg_cuda_selftest', { BIOFEG_CUBLAS: 'off' });
    expect(r.out).toMatch(/gemm engine: fallback/);
    expect(r.failed).toBe(0);
    expect(r.passed).toBeGreaterThan(200);
  });
  it('biofeg_cuda_selftest with threads and blocks in reverse order (CUEMU_ORDER=reverse)', () => {
    const r = run('biofeg_cuda_selftest', { CUEMU_ORDER: 'reverse', BIOFEG_CUBLAS: 'off' });
    expect(r.failed).toBe(0);
    expect(r.passed).toBeGreaterThan(200);
  });
  // Device buffers and __shared__ arrays are exact-size host allocations, so ASan reports any
  // kernel access past one. Instrumented emulation is slow (the hand-written GEMM's cases most):
  // the time limit is the run's own (run(): 600 s), not the project's 120 s per test.
  for (const cublas of ['on', 'off'])
    it.skipIf(!existsSync(asanExe))(
      `biofeg_cuda_selftest under AddressSanitizer (out-of-bounds kernel accesses), cuBLAS ${cublas}`,
      () => {
        const r = run(asanExe, {
          ASAN_OPTIONS: 'detect_stack_use_after_return=0:detect_leaks=0',
          ...(cublas === 'off' ? { BIOFEG_CUBLAS: 'off' } : {}),
        });
        expect(r.out).not.toMatch(/AddressSanitizer/);
        expect(r.failed).toBe(0);
        expect(r.passed).toBeGreaterThan(200);
      },
      600_000,
    );
  it("the emulator's own test: right results, and each bug class it claims to catch is caught", () => {
    const r = run('cuemu_selftest');
    expect(r.failed).toBe(0);
    expect(r.passed).toBeGreaterThanOrEqual(20);
  });
  it('bench:kernels --device cuda --smoke runs every section (the GPU check runs it at full size)', () => {
    const j = bench<{ results: Array<{ op: string }> }>('kernels.ts', ['--device', 'cuda', '--smoke'], 'kernels-cuda-smoke.json');
    const ops = j.results.map((x) => x.op);
    for (const want of ['gemm smoke', 'gemm 128^3 bf16', 'attention', 'layernorm', 'topk'])
      expect(
        ops.some((o) => o.startsWith(want)),
        want,
      ).toBe(true);
  });
  it('bench:bert --device cuda --precision bf16 runs encode and the train step (the GPU check runs it at base size)', () => {
    const j = bench<{ results: Array<{ phase: string; ours: { seqPerSec: number; deviceMiB: number } }> }>(
      'bert.ts',
      ['--device', 'cuda', '--precision', 'bf16', '--sizes', 'tiny', '--rounds', '1', '--iters', '1', '--min-time', '0', '--no-peer'],
      'bert-cuda-bf16-tiny.json',
    );
    expect(j.results.map((x) => x.phase)).toEqual(['encode', 'train']);
    for (const x of j.results) expect(x.ours.seqPerSec > 0 && x.ours.deviceMiB > 0).toBe(true);
  });
  it('bench:gan --device cuda --smoke: one GAN step (5 critic + 1 generator), E in bf16, with its split, memory and host waits (the GPU check runs it at base size)', () => {
    interface Run {
      stepsPerSec: number;
      deviceMiB: number;
      splitMs: { encoder: number; critic: number; generator: number };
      syncsPerStep: { device: number; d2h: number; h2d: number };
    }
    const j = bench<{ precision: string; results: Array<{ size: string; ours: Run[]; oursCritic: Run[] }> }>(
      'gan.ts',
      ['--device', 'cuda', '--smoke'],
      'gan-cuda-smoke.json',
    );
    expect(j.precision).toBe('bf16');
    expect(j.results.map((x) => x.size)).toEqual(['smoke']);
    for (const o of [...j.results[0]!.ours, ...j.results[0]!.oursCritic]) {
      expect(o.stepsPerSec > 0 && o.deviceMiB > 0).toBe(true);
      expect(o.splitMs.encoder > 0 && o.splitMs.critic > 0 && o.splitMs.generator > 0).toBe(true);
      expect(o.syncsPerStep.device).toBe(0);
    }
  });
});
