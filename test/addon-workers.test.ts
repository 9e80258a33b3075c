// The addon is context-aware and its native state thread-safe: the main thread and
// worker_threads Workers load it at the same time and run ops concurrently (results checked
// against a JS reference in each thread), one worker is terminated mid-work, and the main thread
// keeps working afterwards. The scenario (addon-workers-scenario.mjs) runs in a child process,
// so that a crash (an abort, exit 134, or a segfault, 139: what a process-global JS handle did)
// fails this test instead of killing the runner. BIOFEG_ADDON picks the build, as everywhere.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const scenario = fileURLToPath(new URL('./addon-workers-scenario.mjs', import.meta.url));
const addonPath = process.env['BIOFEG_ADDON']
  ? resolve(process.env['BIOFEG_ADDON'])
  : fileURLToPath(new URL('../build/Release/biofeg.node', import.meta.url));

interface Summary {
  main: number;
  workers: number[];
  terminatedDuringMainLoop: boolean;
  threads: number;
  napiVersion: number;
  profileOps: number | null;
  backends: string[];
}

interface Info {
  napiVersion: number;
  cudaDevices: number;
}
const addon = createRequire(import.meta.url)(addonPath) as { info(): Info };
const info = addon.info();

function runScenario(iterations: number, env: Record<string, string> = {}, backends = 'cpu,ref'): Summary {
  const r = spawnSync(process.execPath, ['--expose-gc', scenario, String(iterations), backends], {
    env: { ...process.env, BIOFEG_ADDON: addonPath, ...env },
    encoding: 'utf8',
    timeout: 240_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  const how = r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
  expect(r.status, `scenario ended with ${how}:\n${out.slice(-4000)}`).toBe(0);
  const line = /^SCENARIO OK (.*)$/m.exec(r.stdout);
  expect(line, out.slice(-4000)).not.toBeNull();
  return JSON.parse(line![1]!) as Summary;
}

describe('addon in worker threads', () => {
  it('main thread + two workers load the addon at once and run gemm/layernorm/attention/topkAsync/BertModel concurrently; a third worker is terminated mid-work; the main thread keeps working', () => {
    const s = runScenario(400);
    expect(s.workers).toHaveLength(2);
    // Every op of every step was checked (gemm 2 checks, layernorm 3, attention 2, bert 1).
    for (const n of s.workers) expect(n).toBeGreaterThan(400);
    expect(s.main).toBeGreaterThan(600);
    expect(s.napiVersion).toBe(8);
  });

  it('the same with the CPU profile on (shared counters) and more pool threads than cores', () => {
    const s = runScenario(200, { BIOFEG_PROFILE: '1', BIOFEG_THREADS: '3' });
    expect(s.threads).toBe(3);
    // The profile counts the fast CPU backend's ops of every thread (half the steps use it).
    expect(s.profileOps).toBeGreaterThan(200);
  });

  it('info() reports the Node-API version the addon was built for', () => {
    expect(info.napiVersion).toBe(8);
  });

  // A GPU, or the cuemu build (BIOFEG_ADDON=build-emu/Release/biofeg.node): the threads also
  // launch CUDA kernels and copy to and from the device concurrently.
  it.skipIf(info.cudaDevices === 0)('cuda: the same with the cuda backend too (kernels launched from every thread at once)', () => {
    const s = runScenario(240, {}, 'cpu,ref,cuda');
    expect(s.backends).toEqual(['cpu', 'ref', 'cuda']);
    for (const n of s.workers) expect(n).toBeGreaterThan(240);
  });
});
