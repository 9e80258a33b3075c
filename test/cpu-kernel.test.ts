// Run-time CPU dispatch of the fast CPU backend (native/cpu/fast/cpu_level.h). The level is chosen
// once per process, so each lower level the machine supports runs the CPU half of the op suite
// (test/ops.test.ts, BIOFEG_TEST_DEVICE=cpu) in a child process with BIOFEG_CPU_KERNEL set; this
// process's own run of that suite covers the detected level. A level the CPU lacks is skipped with
// the reason printed (an AVX2-only CI machine skips avx512). BIOFEG_CPU_KERNEL's refusals (an
// unknown name, a level above the CPU's) run in children too; BIOFEG_CPU_DETECTED_MAX (a test knob
// that only lowers the detected level) stands in for an older CPU.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { CPU_LEVELS, type CpuLevel, info } from '../src/api/info.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const facts = info();
const rank = (l: CpuLevel) => CPU_LEVELS.indexOf(l);
const active = facts.cpuLevel;

/** The environment of a child: this one's, without the parent's vitest state, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

/** Runs `code` (an ES module, src/ imports) in a child node with tsx; its stdout, stderr and status. */
function runChild(code: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: childEnv(env),
    cwd: ROOT,
    timeout: 60_000,
  });
}

// What a child prints: the level info() reports, then the outcome of a GEMM on the CPU backend.
const PROBE = [
  "import { info } from './src/api/info.ts';",
  "import { engine } from './src/engine.ts';",
  "import { tensor } from './src/native.ts';",
  "const show = (e) => [e.name, e.code, e.message].join(' ');",
  "try { const i = info(); console.log(['level', i.cpuLevel, 'detected', i.cpuDetectedLevel, 'kernel', i.cpuKernel].join(' ')); }",
  "catch (e) { console.log('info threw', show(e)); }",
  "try { const a = tensor('cpu', 'f32', [2, 2], new Float32Array([1, 2, 3, 4]));",
  "  const c = tensor('cpu', 'f32', [2, 2]); engine('cpu').gemm(a, a, c); console.log('gemm', Array.from(c.download()).join(','));",
  "} catch (e) { console.log('gemm threw', show(e)); }",
].join('\n');

describe('CPU kernel level', () => {
  it('info() names the kernel, the active and detected levels and the CPU features', () => {
    expect(CPU_LEVELS).toContain(facts.cpuLevel);
    expect(rank(facts.cpuLevel)).toBeLessThanOrEqual(rank(facts.cpuDetectedLevel));
    expect(facts.cpuKernel).toMatch(/^(generic|avx2|avx512) \d+x\d+$/);
    if (rank(facts.cpuDetectedLevel) >= rank('avx2')) expect(facts.cpuFeatures).toEqual(expect.arrayContaining(['avx2', 'fma']));
    if (rank(facts.cpuDetectedLevel) >= rank('avx512'))
      expect(facts.cpuFeatures).toEqual(expect.arrayContaining(['avx512f', 'avx512bw', 'avx512vl', 'avx512dq']));
    console.log(
      `cpu kernel: ${facts.cpuKernel}, level ${facts.cpuLevel} (detected ${facts.cpuDetectedLevel}): ${facts.cpuFeatures.join(' ')}`,
    );
  });

  for (const level of ['generic', 'avx2', 'avx512'] as const) {
    const kernel = { generic: 'generic 6x16', avx2: 'avx2 6x16', avx512: 'avx512 8x32' }[level];
    it(`BIOFEG_CPU_KERNEL=${level} selects ${kernel}`, (ctx) => {
      if (rank(level) > rank(facts.cpuDetectedLevel)) {
        console.warn(`BIOFEG_CPU_KERNEL=${level}: skipped: this CPU's level is ${facts.cpuDetectedLevel}`);
        ctx.skip();
      }
      const r = runChild(PROBE, { BIOFEG_CPU_KERNEL: level });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`level ${level} detected ${facts.cpuDetectedLevel} kernel ${kernel}`);
      expect(r.stdout).toContain('gemm 7,10,15,22');
    });
  }

  it('an unknown BIOFEG_CPU_KERNEL is a DeviceUnavailableError naming the levels, at info() and at the first op', () => {
    const r = runChild(PROBE, { BIOFEG_CPU_KERNEL: 'avx1024' });
    expect(r.status, r.stderr).toBe(0);
    const want = "DeviceUnavailableError ERR_BIOFEG_DEVICE BIOFEG_CPU_KERNEL='avx1024' is not a CPU kernel level; expected auto";
    expect(r.stdout).toContain(`info threw ${want}`);
    expect(r.stdout).toContain(`gemm threw ${want}`);
  });

  it("a level above the CPU's is a DeviceUnavailableError naming what it runs (an AVX2-only CPU, simulated)", () => {
    const r = runChild(PROBE, { BIOFEG_CPU_KERNEL: 'avx512', BIOFEG_CPU_DETECTED_MAX: 'avx2' });
    expect(r.status, r.stderr).toBe(0);
    const runs = rank(facts.cpuDetectedLevel) >= rank('avx2') ? 'generic, avx2' : 'generic';
    for (const where of ['info threw', 'gemm threw'])
      expect(r.stdout).toMatch(
        new RegExp(
          `${where} DeviceUnavailableError ERR_BIOFEG_DEVICE BIOFEG_CPU_KERNEL=avx512: this CPU \\(or its OS\\) lacks .*it runs: ${runs}\\n`,
        ),
      );
  });

  it('without BIOFEG_CPU_KERNEL the detected level runs (capped: as that older CPU would)', () => {
    const r = runChild(PROBE, { BIOFEG_CPU_KERNEL: '', BIOFEG_CPU_DETECTED_MAX: 'avx2' });
    expect(r.status, r.stderr).toBe(0);
    const want = rank(facts.cpuDetectedLevel) >= rank('avx2') ? 'level avx2 detected avx2 kernel avx2 6x16' : 'level generic';
    expect(r.stdout).toContain(want);
  });
});

// The CPU half of the op suite at each level below this process's (which its own run covers).
// Each child is a vitest run of test/ops.test.ts (about a minute on 2 cores): 600 s each.
describe('the op suite at each lower CPU level (child processes)', () => {
  for (const level of ['generic', 'avx2', 'avx512'] as const)
    it(`ops.test.ts, cpu variants, BIOFEG_CPU_KERNEL=${level}`, { timeout: 600_000 }, (ctx) => {
      if (rank(level) > rank(facts.cpuDetectedLevel)) {
        console.warn(`op suite at ${level}: skipped: this CPU's level is ${facts.cpuDetectedLevel}`);
        ctx.skip();
      }
      if (rank(level) >= rank(active) || (level === 'avx512' && active === 'avx512bf16')) {
        // avx512bf16 runs the avx512 f32 kernels: this process's suite already ran them.
        console.warn(`op suite at ${level}: skipped: this process's own run covers its f32 kernels (level ${active})`);
        ctx.skip();
      }
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'main', 'test/ops.test.ts'],
        {
          encoding: 'utf8',
          env: childEnv({ BIOFEG_CPU_KERNEL: level, BIOFEG_TEST_DEVICE: 'cpu', NO_COLOR: '1', FORCE_COLOR: '0' }),
          cwd: ROOT,
          timeout: 590_000,
        },
      );
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out.slice(-4000)).toBe(0);
      expect(out).toMatch(/Tests\s+\S*\d+ passed/);
    });
});
