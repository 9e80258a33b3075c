// npm run bench:bert [-- --sizes tiny,small,base --threads N --iters N --min-time S --rounds R --phases encode,train
//                      --device cpu|cuda --precision f32|bf16 --no-peer --no-torch --no-onnx --out FILE]
// The issue-17 runs on a quiet machine (2 threads; the onnxruntime-node model export runs once, into runs/onnx/):
//   npm run bench:bert -- --threads 2                      (f32: ours vs PyTorch and onnxruntime-node)
//   npm run bench:bert -- --threads 2 --precision bf16     (CPU bf16 encode: vs PyTorch autocast bf16 and onnxruntime-node f32)
// Sequences/s of BERT encode (eval, grad: false) and of the BLINK bi-encoder train step (two
// encoders, B x B dot-product scores, cross-entropy, backward, clip 1.0, FlatAdamW) at the issue's
// sizes, beside two peers with the same threads, shapes and padding:
// - HF transformers BertModel on PyTorch (bench/peers/bert_torch.py; eager attention in f32, sdpa
//   under torch.autocast('cpu', bfloat16) with --precision bf16) when python3 can import torch and
//   transformers;
// - onnxruntime-node (encode only, CPU, f32 in either precision): the same random BERT exported by
//   bench/peers/export_onnx.py (cached in runs/onnx/), run by bench/peers/bert_onnx.ts with
//   intraOpNumThreads = --threads, interOpNumThreads 1, graph optimization 'all'.
// A missing peer is skipped with the reason printed. Every (size, phase) runs in a fresh child
// process of its own, ours and the peers' alike, so the peak RSS reported is that measurement's
// alone. The shared machine's load swings a lot, so each (size, phase) is measured in --rounds
// alternating rounds (ours, torch, onnx, ours, ...) and the best round of each side is compared;
// every round is kept in the JSON with the 1-minute load average at its start. Prints a table and
// writes bench/results/bert-cpu-<cpu>[-bf16][-<sizes>].json (<cpu>: zen4, zen5, ... from /proc/cpuinfo;
// the sizes only when not all three), or --out FILE.
// --precision bf16 on the CPU measures encode only by default (the issue's bf16 bars); where the
// engine refuses bf16 on this CPU, ours is skipped with the reason and the peers still run.
// --device cuda (with --precision bf16: mixed precision, the peer under torch.autocast bf16) runs
// both sides on the GPU, synchronised after every step; memory is then the device's peak
// allocation (ours: bytes in use after the step; PyTorch: max_memory_allocated), the onnx peer
// does not run and the CPU bars do not apply. Writes bench/results/bert-cuda-<precision>-<sizes>.json.
// --profile (ours only, no peer, nothing written): runs each child with BIOFEG_PROFILE=1 and prints
// the fast CPU backend's wall time per op and per GEMM shape over the timed iterations, and the
// share of the step spent outside the ops (N-API, TypeScript, host copies).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bert } from '../src/models/bert.js';
import { BiEncoder } from '../src/models/biencoder.js';
import { initBertParams, sizedConfig } from '../src/models/init.js';
import { Workspace } from '../src/models/workspace.js';
import { bytesInUse, native, setThreads, type DeviceName } from '../src/native.js';
import { inBatchStep } from '../src/train/biencoder-step.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import { cpuId, flagValue, hasFlag, machine, releaseHost, table, writeResult } from './common.js';
import { batchOf, SIZES, type Size } from './peers/shapes.js';

type Phase = 'encode' | 'train';
const PHASES: Phase[] = ['encode', 'train'];

/** The issues' bars on the CPU: ours / PyTorch sequences per second, per precision (none: no bar). */
const BARS: Record<'f32' | 'bf16', Record<Phase, Partial<Record<Size, number>>>> = {
  f32: { encode: { tiny: 1.5, small: 1.5, base: 1.1 }, train: { tiny: 1.5, small: 1.5, base: 1.0 } },
  // Issue 17: bf16 encode at least 1.5x PyTorch CPU autocast bf16 (sdpa); no bf16 training bar.
  bf16: { encode: { tiny: 1.5, small: 1.5, base: 1.5 }, train: {} },
};
/** Issue 17: ours / onnxruntime-node f32 encode, per precision of ours. */
const ONNX_BARS: Record<'f32' | 'bf16', number> = { f32: 1.2, bf16: 1.5 };

interface Measured {
  size: Size;
  phase: Phase;
  threads: number;
  iters: number;
  msPerIter: number;
  seqPerSec: number;
  peakRssMiB: number;
  /** RSS before the model was built (the runtime's own share). */
  baseRssMiB?: number;
  /** RSS after the timed iterations (steady state, setup transients gone). */
  rssAfterMiB?: number;
  /** Train: median ms of clip + AdamW inside a step. */
  optimizerMs?: number;
  [k: string]: unknown;
}

const threads = Number(flagValue('threads', String(os.cpus().length)));
const iters = Number(flagValue('iters', '5'));
const minTime = Number(flagValue('min-time', '2'));
const rounds = Number(flagValue('rounds', '2'));
const device = flagValue('device', 'cpu') as DeviceName;
const precision = flagValue('precision', 'f32') as 'f32' | 'bf16';
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${String(device)}`);
if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${String(precision)}`);
const onGpu = device === 'cuda';
const sync = () => {
  if (onGpu) (native() as unknown as { synchronize(): void }).synchronize();
};
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface ProfileRow {
  op: string;
  ms: number;
  calls: number;
  gflop: number;
}
/** The addon's per-op profile (present in builds with native/cpu/profile.cpp; on with BIOFEG_PROFILE=1). */
const prof = native() as unknown as { profileEnabled?: () => boolean; profile?: () => ProfileRow[]; profileReset?: () => void };
const profiling = () => prof.profileEnabled?.() === true;

/** Warm-up, then at least `iters` timed iterations and at least `minTime` seconds (at most 200). */
async function timeIters(size: Size, step: () => void | Promise<void>): Promise<number[]> {
  for (let i = 0; i < (size === 'base' ? 1 : 2); i++) await step();
  if (profiling()) prof.profileReset!();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < iters || (performance.now() - start < minTime * 1000 && times.length < 200)) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return times;
}

/** The same random init in every model (BLINK's two encoders start as copies of one BERT). */
function initModels(models: Bert[]): void {
  // A function of its own, so the host copy is garbage once it returns (an async frame would keep it).
  const init = initBertParams(models[0]!.layout, models[0]!.numParameters, 1);
  for (const b of models) b.parameters().upload(init);
}

async function child(size: Size, phase: Phase): Promise<Measured> {
  setThreads(threads);
  const baseRssMiB = maxRssMiB();
  const config = sizedConfig(size, SIZES[size].vocab, 512);
  const { batch } = SIZES[size];
  const a = batchOf(size, 1);
  let times: number[];
  let optimizerMs: number | undefined;
  if (phase === 'encode') {
    const bert = new Bert(config, device, { precision });
    initModels([bert]);
    await releaseHost();
    times = await timeIters(size, () => {
      // As `biofeg encode` runs it: only [CLS] leaves the last layer (clsOnly).
      // --compute-padding: the padded tokens go through the GEMMs too, as the peers compute them.
      const o = bert.forward({
        inputIds: a.ids,
        attentionMask: a.mask,
        batch,
        seq: a.seq,
        train: false,
        grad: false,
        clsOnly: true,
        skipPadding: !hasFlag('compute-padding'),
      });
      o.cls.download();
    });
  } else {
    const m = new BiEncoder({ config, device, precision });
    initModels([m.context.bert, m.candidate.bert]);
    await releaseHost();
    const ws = new Workspace(device);
    const opt = new FlatAdamW(device, m.parts(), { patterns: null });
    const b = batchOf(size, 2);
    const optTimes: number[] = [];
    let seed = 1n;
    times = await timeIters(size, async () => {
      m.zeroGrad();
      await inBatchStep(m, ws, { tokens: a }, b, { train: true, seed: seed++ });
      const t0 = performance.now();
      opt.clipGradNorm(1.0);
      opt.update(3e-5);
      sync();
      optTimes.push(performance.now() - t0);
    });
    optimizerMs = median(optTimes.slice(-times.length));
  }
  const ms = median(times);
  const profile = profiling() ? { iters: times.length, totalMs: times.reduce((a, b) => a + b, 0), ops: prof.profile!() } : undefined;
  const seqs = phase === 'encode' ? batch : 2 * batch; // train: a context and a candidate per pair
  return {
    size,
    phase,
    threads,
    iters: times.length,
    msPerIter: ms,
    seqPerSec: (seqs * 1000) / ms,
    peakRssMiB: maxRssMiB(),
    baseRssMiB,
    rssAfterMiB: process.memoryUsage().rss / 2 ** 20,
    ...(optimizerMs !== undefined ? { optimizerMs } : {}),
    ...(onGpu ? { deviceMiB: bytesInUse('cuda') / 2 ** 20, precision } : {}),
    ...(profile ? { profile } : {}),
  };
}

function runJson(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Measured {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, ...(env ? { env } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Measured;
}

/** Per-op table of one profiled child: ms per iteration, share of the step, GFLOP/s. */
function printProfile(m: Measured): void {
  const p = m['profile'] as { iters: number; totalMs: number; ops: ProfileRow[] } | undefined;
  if (!p) throw new Error('--profile: the addon has no profile (build with native/cpu/profile.cpp)');
  const per = (x: number) => x / p.iters;
  const inOps = p.ops.reduce((a, r) => a + r.ms, 0);
  const groups = new Map<string, number>();
  for (const r of p.ops) {
    const g = r.op.startsWith('gemm') ? 'gemm (all shapes)' : r.op;
    groups.set(g, (groups.get(g) ?? 0) + r.ms);
  }
  console.log(
    `${m.size} ${m.phase}: ${per(p.totalMs).toFixed(1)} ms per iteration (${p.iters} timed), ops ${per(inOps).toFixed(1)} ms, outside ops ${per(p.totalMs - inOps).toFixed(1)} ms`,
  );
  const rows = [...groups].sort((a, b) => b[1] - a[1]).map(([op, ms]) => ({ op, 'ms/iter': per(ms), '%': (100 * ms) / p.totalMs }));
  console.log(table(rows));
  console.log(
    table(
      p.ops
        .filter((r) => r.op.startsWith('gemm') || r.gflop > 0)
        .slice(0, 24)
        .map((r) => ({
          op: r.op,
          'ms/iter': per(r.ms),
          'calls/iter': per(r.calls),
          'GFLOP/s': r.gflop / (r.ms / 1000),
        })),
    ),
  );
}

async function profileRun(sizes: Size[], phases: Phase[], common: string[]): Promise<void> {
  for (const size of sizes)
    for (const phase of phases) {
      const m = runJson(
        process.execPath,
        ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), '--child', `${size}:${phase}`, ...common],
        { ...process.env, BIOFEG_PROFILE: '1' },
      );
      printProfile(m);
    }
}

type Row = {
  size: Size;
  phase: Phase;
  ours?: Measured;
  torch?: Measured;
  ratio?: number;
  bar?: number;
  pass?: boolean;
  onnx?: Measured;
  ratioOnnx?: number;
  barOnnx?: number;
  passOnnx?: boolean;
  /** Encode on the CPU: ours computing the padded tokens too (equal work with the peers). */
  oursPaddingComputed?: Measured;
  ratioOnnxPaddingComputed?: number;
};

/** Why ours cannot run this precision on this device (the engine's own message), or undefined. */
function oursRefusal(): string | undefined {
  // CUDA has run bf16 all along; the probe is for the CPU, where it depends on the machine and the build.
  if (precision === 'f32' || onGpu) return undefined;
  try {
    new Bert(sizedConfig('tiny', SIZES.tiny.vocab, 512), device, { precision });
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The last lines of a failed command's stderr, for a skip reason. */
const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

/** The onnxruntime-node peer's models per size, or the reason it cannot run. */
function onnxPeer(python: string, sizes: Size[]): { models: Partial<Record<Size, string>>; version: string } | { reason: string } {
  if (onGpu) return { reason: 'a CPU peer (--device cuda)' };
  if (hasFlag('no-onnx') || hasFlag('no-peer')) return { reason: 'off (--no-onnx / --no-peer)' };
  let version: string;
  try {
    const require = createRequire(import.meta.url);
    version = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return { reason: 'onnxruntime-node is not installed (a dev dependency: npm ci installs it)' };
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'export_onnx.py');
  // The export skips sizes already in runs/onnx/ with the same config; the first run takes a while (base: about 440 MB).
  const r = spawnSync(python, [script, '--sizes', sizes.join(',')], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    const why = `the ONNX export failed (${python} ${script}; needs torch, transformers, onnx): ${tail(r.stderr || String(r.error))}`;
    // Models exported earlier still serve where python lacks torch now (the export script alone checks they match its config).
    const cached = Object.fromEntries(sizes.map((s) => [s, join(dirname(script), '..', '..', 'runs', 'onnx', `bert-${s}.onnx`)]));
    if (!Object.values(cached).every((f) => existsSync(f))) return { reason: why };
    process.stderr.write(`bench:bert: ${why}; using the models already in runs/onnx/\n`);
    return { models: cached, version };
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { models?: Partial<Record<Size, string>> };
  return { models: out.models ?? {}, version };
}

async function parent(): Promise<void> {
  const sizes = flagValue('sizes', 'tiny,small,base')
    .split(',')
    .filter((s) => s !== '') as Size[];
  for (const s of sizes) if (!Object.hasOwn(SIZES, s)) throw new Error(`--sizes: unknown size ${s} (tiny, small, base)`);
  // CPU bf16: the issue's bars are for encode; the train step in bf16 on the CPU is measured only when asked.
  const phases = flagValue('phases', !onGpu && precision === 'bf16' ? 'encode' : 'encode,train')
    .split(',')
    .filter((s) => s !== '') as Phase[];
  for (const p of phases) if (!PHASES.includes(p)) throw new Error(`--phases: unknown phase ${p} (encode, train)`);
  const python = process.env['PYTHON'] ?? 'python3';
  const peerScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'bert_torch.py');
  const common = [
    '--threads',
    String(threads),
    '--iters',
    String(iters),
    '--min-time',
    String(minTime),
    '--device',
    device,
    '--precision',
    precision,
  ];
  if (hasFlag('profile')) return profileRun(sizes, phases, common);
  const probe = onGpu ? 'import torch, transformers; assert torch.cuda.is_available()' : 'import torch, transformers';
  const torchReason =
    hasFlag('no-peer') || hasFlag('no-torch')
      ? 'off (--no-torch / --no-peer)'
      : spawnSync(python, ['-c', probe], { stdio: 'ignore' }).status === 0
        ? undefined
        : `${python} cannot import torch and transformers${onGpu ? ' or sees no GPU' : ''}`;
  const peer = torchReason === undefined;
  const onnxInfo = phases.includes('encode') ? onnxPeer(python, sizes) : { reason: 'encode is not measured (--phases)' };
  const onnxModels = 'models' in onnxInfo ? onnxInfo.models : undefined;
  const oursReason = oursRefusal();
  if (oursReason)
    process.stderr.write(`bench:bert: ours skipped, the engine refuses --precision ${precision} on ${device}: ${oursReason}\n`);
  if (!peer) process.stderr.write(`bench:bert: PyTorch peer skipped: ${torchReason}\n`);
  if ('reason' in onnxInfo) process.stderr.write(`bench:bert: onnxruntime-node peer skipped: ${onnxInfo.reason}\n`);
  const onnxScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'bert_onnx.ts');
  const loadBefore = os.loadavg();
  const results: Row[] = [];
  for (const size of sizes)
    for (const phase of phases) {
      // Ours and the peers alternately, so a change in machine load hits every side alike.
      const oursRounds: Measured[] = [],
        paddedRounds: Measured[] = [],
        torchRounds: Measured[] = [],
        onnxRounds: Measured[] = [];
      // Encode on the CPU also runs ours computing the padded tokens (equal work with the peers).
      const withPadded = phase === 'encode' && !onGpu && !oursReason;
      const onnxModel = phase === 'encode' ? onnxModels?.[size] : undefined;
      for (let r = 0; r < rounds; r++) {
        process.stderr.write(`bench:bert ${size} ${phase} round ${r + 1}/${rounds}:`);
        if (!oursReason) {
          process.stderr.write(' ours...');
          const load1 = os.loadavg()[0]!;
          const args = ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), '--child', `${size}:${phase}`, ...common];
          oursRounds.push({ ...runJson(process.execPath, args), loadavg1: load1 });
          if (withPadded) {
            process.stderr.write(' ours (padding computed)...');
            const load2 = os.loadavg()[0]!;
            paddedRounds.push({ ...runJson(process.execPath, [...args, '--compute-padding']), loadavg1: load2 });
          }
        }
        if (peer) {
          process.stderr.write(' pytorch...');
          const load1 = os.loadavg()[0]!;
          torchRounds.push({ ...runJson(python, [peerScript, '--size', size, '--phase', phase, ...common]), loadavg1: load1 });
        }
        if (onnxModel) {
          process.stderr.write(' onnx...');
          const load1 = os.loadavg()[0]!;
          const args = [
            ...process.execArgv,
            onnxScript,
            '--size',
            size,
            '--model',
            onnxModel,
            '--threads',
            String(threads),
            '--iters',
            String(iters),
            '--min-time',
            String(minTime),
          ];
          onnxRounds.push({ ...runJson(process.execPath, args), loadavg1: load1 });
        }
        const seqs = [oursRounds, paddedRounds, torchRounds, onnxRounds].map((xs, i) =>
          xs.length > r ? `${['ours', 'ours padded', 'torch', 'onnx'][i]} ${xs.at(-1)!.seqPerSec.toFixed(1)}` : '',
        );
        process.stderr.write(` ${seqs.filter((x) => x).join(', ')} seq/s\n`);
      }
      const best = (xs: Measured[]) =>
        xs.length ? { ...xs.reduce((a, b) => (b.seqPerSec > a.seqPerSec ? b : a)), rounds: xs } : undefined;
      const ours = best(oursRounds),
        torch = best(torchRounds),
        onnx = best(onnxRounds),
        padded = best(paddedRounds);
      const bar = onGpu ? undefined : BARS[precision][phase][size];
      const barOnnx = onGpu || phase !== 'encode' ? undefined : ONNX_BARS[precision];
      const ratio = ours && torch ? ours.seqPerSec / torch.seqPerSec : undefined;
      const ratioOnnx = ours && onnx ? ours.seqPerSec / onnx.seqPerSec : undefined;
      results.push({
        size,
        phase,
        ...(ours ? { ours } : {}),
        ...(torch ? { torch } : {}),
        ...(ratio !== undefined ? { ratio } : {}),
        ...(bar !== undefined ? { bar } : {}),
        ...(ratio !== undefined && bar !== undefined ? { pass: ratio >= bar } : {}),
        ...(onnx ? { onnx } : {}),
        ...(ratioOnnx !== undefined ? { ratioOnnx } : {}),
        ...(barOnnx !== undefined ? { barOnnx } : {}),
        ...(ratioOnnx !== undefined && barOnnx !== undefined ? { passOnnx: ratioOnnx >= barOnnx } : {}),
        ...(padded ? { oursPaddingComputed: padded } : {}),
        ...(padded && onnx ? { ratioOnnxPaddingComputed: padded.seqPerSec / onnx.seqPerSec } : {}),
      });
    }
  const loadAfter = os.loadavg();
  const num = (x: number | undefined) => x ?? '-';
  const ok = (p: boolean | undefined) => (p === undefined ? '-' : p ? 'yes' : 'NO');
  const rows = results.map((r) => ({
    size: r.size,
    phase: r.phase,
    'ours seq/s': num(r.ours?.seqPerSec),
    'torch seq/s': num(r.torch?.seqPerSec),
    'ours/torch': num(r.ratio),
    ...(onGpu ? {} : { bar: r.bar === undefined ? '-' : `>=${r.bar}`, ok: ok(r.pass) }),
    ...(onGpu
      ? {}
      : {
          'onnx seq/s': num(r.onnx?.seqPerSec),
          'ours/onnx': num(r.ratioOnnx),
          'onnx bar': r.barOnnx === undefined ? '-' : `>=${r.barOnnx}`,
          'onnx ok': ok(r.passOnnx),
          'ours pad-computed/onnx': num(r.ratioOnnxPaddingComputed),
        }),
    'ours ms': num(r.ours?.msPerIter),
    'torch ms': num(r.torch?.msPerIter),
    ...(onGpu
      ? {
          'ours device MiB': r.ours ? Math.round(Number(r.ours['deviceMiB'])) : '-',
          'torch device MiB': r.torch ? Math.round(Number(r.torch['deviceMiB'])) : '-',
        }
      : {
          'onnx ms': num(r.onnx?.msPerIter),
          'ours peak MiB': r.ours ? Math.round(r.ours.peakRssMiB) : '-',
          'torch peak MiB': r.torch ? Math.round(r.torch.peakRssMiB) : '-',
          'onnx peak MiB': r.onnx ? Math.round(r.onnx.peakRssMiB) : '-',
        }),
  }));
  const baseTrain = results.find((r) => r.size === 'base' && r.phase === 'train');
  const rssBar =
    baseTrain?.ours && baseTrain.torch && !onGpu && precision === 'f32'
      ? {
          ours: baseTrain.ours.peakRssMiB,
          torch: baseTrain.torch.peakRssMiB,
          pass: baseTrain.ours.peakRssMiB <= baseTrain.torch.peakRssMiB,
        }
      : undefined;
  const m = machine();
  const cpu = cpuId();
  const torchVersions = results.find((r) => r.torch)?.torch;
  const torchAttention = !onGpu && precision === 'bf16' ? 'sdpa attention' : 'eager attention';
  const torchLine = peer
    ? `HF transformers ${String(torchVersions?.['transformers'])} BertModel (${torchAttention}) on torch ${String(torchVersions?.['torch'])}` +
      (onGpu ? ` on ${String(torchVersions?.['gpu'])}` : '') +
      (precision === 'bf16' ? ` under torch.autocast('${device}', bfloat16)` : '') +
      (phases.includes('train') ? ', AdamW' : '')
    : `none (${torchReason})`;
  const onnxLine =
    'reason' in onnxInfo
      ? `none (${onnxInfo.reason})`
      : `onnxruntime-node ${onnxInfo.version}, CPU EP, f32, intraOpNumThreads ${threads}, interOpNumThreads 1, graph optimization all; ` +
        "the PyTorch peer's BERT exported by bench/peers/export_onnx.py (TorchScript exporter, opset 17, eager attention, output [CLS])";
  console.log(
    `machine: ${String(m.cpu)} (${cpu.vendor} family ${cpu.family} model ${cpu.model}: ${cpu.tag}; ${cpu.flags.join(' ')}), ` +
      `${String(m.cores)} cores, ${String(m.memGiB)} GiB, node ${String(m.node)}, threads ${threads}, precision ${precision}` +
      (onGpu
        ? `; device cuda: ${(m.engine as { cudaDevice: string }).cudaDevice}, GEMM ${(m.engine as { gemmEngine: string }).gemmEngine}`
        : `; CPU kernel ${String((m.engine as { cpuKernel?: string }).cpuKernel ?? 'see biofeg info')}`),
  );
  console.log(
    `settings: ${rounds} alternating rounds per row (best round shown), each a fresh process: warm-up 2 (base 1), then the median of >= ${iters} iterations and >= ${minTime}s; last quarter of every sequence padding; train seq/s counts context + candidate sequences (2B per step)`,
  );
  console.log(
    `ours: ${oursReason ? `skipped (the engine refuses ${precision} on ${device}: ${oursReason})` : `biofeg ${precision}, only [CLS] leaves the last layer; encode skips the padded tokens in its GEMMs, LayerNorms and feed-forward (packed rows; the peers compute them), and 'ours pad-computed' is ours computing them too (equal work)`}`,
  );
  console.log(`peer torch: ${torchLine}`);
  if (!onGpu) console.log(`peer onnx: ${onnxLine}`);
  console.log(
    `load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')} (${String(m.cores)} cores; each round's 1-minute load is in the JSON)`,
  );
  console.log(table(rows));
  if (rssBar)
    console.log(
      `peak RSS of the base train step: ours ${rssBar.ours.toFixed(0)} MiB, PyTorch ${rssBar.torch.toFixed(0)} MiB -> ${rssBar.pass ? 'ok' : "NO (bar: at most PyTorch's)"}`,
    );
  const all = sizes.length === 3 && ['tiny', 'small', 'base'].every((s) => sizes.includes(s as Size));
  const sizePart = all ? '' : `-${sizes.join('-')}`;
  const name = flagValue(
    'out',
    onGpu ? `bert-cuda-${precision}-${sizes.join('-')}.json` : `bert-cpu-${cpu.tag}${precision === 'bf16' ? '-bf16' : ''}${sizePart}.json`,
  );
  const file = writeResult(name, {
    machine: m,
    settings: {
      device,
      precision,
      threads,
      iters,
      minTimeS: minTime,
      rounds,
      pick: 'best round per side',
      sizes,
      phases,
      warmup: { tiny: 2, small: 2, base: 1 },
      padding: 'last quarter of every sequence',
      trainSeqs: '2 x batch per step',
    },
    loadavg: { before: loadBefore, after: loadAfter },
    ours: oursReason ? { skipped: oursReason } : { precision },
    peer: peer
      ? { python, script: 'bench/peers/bert_torch.py', attention: torchAttention, autocast: precision === 'bf16' }
      : { skipped: torchReason },
    onnxPeer:
      'reason' in onnxInfo
        ? { skipped: onnxInfo.reason }
        : {
            onnxruntimeNode: onnxInfo.version,
            script: 'bench/peers/bert_onnx.ts',
            export: 'bench/peers/export_onnx.py',
            models: onnxInfo.models,
            precision: 'f32',
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            graphOptimizationLevel: 'all',
          },
    bars: onGpu
      ? "none on cuda (the issue's bars are CPU bars)"
      : {
          torch: BARS[precision],
          onnx: { encode: ONNX_BARS[precision] },
          ...(precision === 'f32' ? { peakRssBaseTrain: 'ours <= PyTorch' } : {}),
        },
    results,
    peakRssBaseTrain: rssBar ?? null,
  });
  console.log(`wrote ${file}`);
}

const childSpec = flagValue('child', '');
// --shapes real: issue 21's shapes (batch 64-256, MFU, PyTorch eager and compiled) live in bench/bert-real.ts.
if (flagValue('shapes', '') === 'real') {
  await import('./bert-real.js');
} else if (childSpec) {
  const [size, phase] = childSpec.split(':') as [Size, Phase];
  process.stdout.write(`${JSON.stringify(await child(size, phase))}\n`);
} else {
  await parent();
}
