// Register budgets of the CUDA kernels, checked where nvcc exists (CI has it; no GPU needed).
// cuemu runs the kernels' logic but cannot see registers: on a GPU, a block whose threads need
// more than the SM's 64K registers fails to launch ("too many resources requested"), and spills
// to local memory cost speed. ptxas reports both per kernel and architecture:
// - a kernel with __launch_bounds__(n) must fit n threads (ptxas caps its registers to make it so);
// - a kernel without one may be launched with up to 1,024 threads, so it must use <= 64 registers;
// - no kernel spills.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DIR = 'native/cuda';
const ARCHS = [80, 90]; // the build's default BIOFEG_CUDA_ARCHS
const REGS_PER_SM = 65536;

const nvccMissing = await run('nvcc', ['--version']).then(
  () => null,
  (e: Error) => e.message.split('\n')[0],
);
if (nvccMissing) console.warn(`cuda kernel resources: skipped: nvcc not found (${nvccMissing})`);

interface Kernel {
  file: string;
  arch: number;
  name: string;
  regs: number;
  spill: number;
}

/** Kernel names (k_...) of mangled symbols, through c++filt (binutils, beside g++). */
async function kernelNames(mangled: string[]): Promise<string[]> {
  const p = run('c++filt', [], { maxBuffer: 1 << 24 });
  p.child.stdin!.end(mangled.join('\n') + '\n');
  const lines = (await p).stdout.split('\n');
  return mangled.map((m, i) => /\b(k_\w+)/.exec(lines[i] ?? '')?.[1] ?? m);
}

/** Every kernel's registers and spill bytes, from `ptxas -v` output (names still mangled). */
function parsePtxas(file: string, text: string): Kernel[] {
  const out: Kernel[] = [];
  let cur: Kernel | null = null;
  for (const line of text.split('\n')) {
    const entry = /Compiling entry function '(\w+)' for 'sm_(\d+)'/.exec(line);
    if (entry) cur = { file, arch: Number(entry[2]), name: entry[1]!, regs: -1, spill: 0 };
    const spill = /(\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (spill && cur) cur.spill = Number(spill[1]) + Number(spill[2]);
    const used = /Used (\d+) registers/.exec(line);
    if (used && cur) {
      cur.regs = Number(used[1]);
      out.push(cur);
      cur = null;
    }
  }
  return out;
}

/** __launch_bounds__ (threads; a min-blocks argument is ignored) of each kernel in the sources (a constant name is looked up in the file). */
function launchBounds(): Map<string, number> {
  const bounds = new Map<string, number>();
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.cu'))) {
    const src = readFileSync(join(DIR, f), 'utf8');
    for (const m of src.matchAll(/__launch_bounds__\((\w+)(?:,\s*\w+)?\)\s+(k_\w+)/g)) {
      const c = /^\d+$/.test(m[1]!) ? m[1]! : new RegExp(`${m[1]}\\s*=\\s*(\\d+)`).exec(src)?.[1];
      if (!c) throw new Error(`${f}: cannot resolve __launch_bounds__(${m[1]}) of ${m[2]}`);
      bounds.set(m[2]!, Number(c));
    }
  }
  return bounds;
}

/** Registers a block of `threads` threads takes: per warp, regs x 32 rounded up to 256. */
const blockRegs = (regs: number, threads: number) => Math.ceil(threads / 32) * Math.ceil((regs * 32) / 256) * 256;

describe.skipIf(nvccMissing !== null)('cuda kernel resources (ptxas, sm_80 and sm_90)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'biofeg-ptxas-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('every kernel fits its block in the register file and none spills', async () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.cu'))
      .sort();
    const gencode = ARCHS.flatMap((a) => ['-gencode', `arch=compute_${a},code=sm_${a}`]);
    // Two files at a time (CI has 2 cores).
    const kernels: Kernel[] = [];
    for (let i = 0; i < files.length; i += 2)
      for (const r of await Promise.all(
        files.slice(i, i + 2).map((f) =>
          run('nvcc', ['-std=c++17', '-O3', '-c', ...gencode, '-Xptxas', '-v', '-I', 'native', join(DIR, f), '-o', join(tmp, `${f}.o`)], {
            maxBuffer: 1 << 24,
          }).then((o) => parsePtxas(f, o.stdout + o.stderr)),
        ),
      ))
        kernels.push(...r);
    const names = await kernelNames(kernels.map((k) => k.name));
    kernels.forEach((k, i) => {
      k.name = names[i]!;
    });
    const bounds = launchBounds();
    expect(kernels.length).toBeGreaterThan(20);
    for (const a of ARCHS) expect(kernels.some((k) => k.arch === a && k.name === 'k_attn_bwd_dq')).toBe(true);
    const worst = [...kernels].sort((x, y) => y.regs - x.regs)[0]!;
    console.log(
      `cuda kernel resources: ${kernels.length} kernel builds; most registers: ${worst.name} ` +
        `(sm_${worst.arch}) ${worst.regs} x ${bounds.get(worst.name) ?? 1024} threads`,
    );
    for (const k of kernels) {
      const threads = bounds.get(k.name) ?? 1024;
      const what = `${k.file} ${k.name} sm_${k.arch}: ${k.regs} registers x ${threads} threads`;
      expect(blockRegs(k.regs, threads), what).toBeLessThanOrEqual(REGS_PER_SM);
      expect(k.spill, `${what}: ${k.spill} bytes spilled`).toBe(0);
    }
  }, 600_000);
});
