// npm run bench:kernels [-- --threads N --quick --device cpu|cuda --peak-tflops T --smoke --only gemm,attention,layernorm,topk]
// GEMM GFLOP/s at BERT shapes beside OpenBLAS sgemm (same process, same threads), attention,
// LayerNorm GB/s and top-k against the GEMM it contains; on CUDA also the bf16 4096^3 GEMM against
// the card's dense bf16 peak (bar: 60%). On the CPU, an FMA micro-benchmark measures the f32 peak
// per vector width (AVX2 ymm, AVX-512 zmm) in the same run, and each GEMM is printed as a share
// of the widest one (issue 17's bar: at least 75% at the BERT shapes). BIOFEG_CPU_KERNEL=avx2 (or
// generic) runs the GEMMs on that level's kernels. Prints a table, writes JSON (on the CPU named
// with the CPU: kernels-cpu-zen5.json, -avx2 when the level is lowered). --smoke: tiny shapes, one
// iteration, every code path (the cuemu tests run it; its figures mean nothing).
import { engine } from '../src/engine.js';
import { engineInfo, native, setThreads, tensor, type BackendName, type DeviceName, type DType, type NativeTensor } from '../src/native.js';
import { info } from '../src/api/info.js';
import { cpuId, flagValue, hasFlag, machine, table, timeMs, writeResult } from './common.js';

const smoke = hasFlag('smoke');
const quick = hasFlag('quick') || smoke;
const threads = setThreads(Number(flagValue('threads', '0')));
const device = flagValue('device', 'cpu') as DeviceName;
const be: BackendName = device === 'cuda' ? 'cuda' : 'cpu';
const O = engine(be);
const addon = native() as unknown as {
  cpuFmaPeak(lanes: 8 | 16, seconds: number): number;
  openblasAvailable(): string | null;
  openblasSgemm(A: NativeTensor, B: NativeTensor, C: NativeTensor, o: { transA?: boolean; transB?: boolean; threads?: number }): void;
};
const blas = device === 'cpu' ? addon.openblasAvailable() : null;
const sync = () => {
  if (device === 'cuda') O.synchronize();
};

const iters = () => (smoke ? { iterations: 1, time: 0 } : {});
const SECTIONS = ['gemm', 'attention', 'layernorm', 'topk'];
const only = flagValue('only', '')
  .split(',')
  .filter((x) => x);
for (const o of only) if (!SECTIONS.includes(o)) throw new Error(`--only ${o}: expected some of ${SECTIONS.join(', ')}`);
const want = (section: string) => only.length === 0 || only.includes(section);

function rand(shape: number[], dt: DType = 'f32'): NativeTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.sin(i * 12.9898) * 0.5;
  return tensor(device, dt, shape, d);
}

const rows: Array<Record<string, string | number>> = [];
const results: Record<string, unknown>[] = [];

// The CPU's f32 FMA peak per vector width, on the bench's threads (0: the CPU lacks the width),
// measured before and after the GEMMs (the higher of the two counts: a peak is a maximum).
const cpuFacts = device === 'cpu' ? info() : undefined;
const WIDTHS = [
  ['avx2', 8],
  ['avx512', 16],
] as const;
const peakRuns: number[][] = [];
const measurePeaks = () => {
  if (device === 'cpu' && want('gemm')) peakRuns.push(WIDTHS.map(([, lanes]) => addon.cpuFmaPeak(lanes, smoke ? 0.01 : 0.25)));
};
measurePeaks();
const GEMM_BAR = 0.75;
const bars: string[] = [];
const cpuGemms: Array<{ label: string; gflops: number; row: Record<string, string | number>; result: Record<string, unknown> }> = [];

// GEMM: C[M,N] = A[M,K] W[N,K]^T, the Linear layer of BERT (weights stored [out, in]).
const gemmShapes: Array<[string, number, number, number]> = smoke
  ? [['smoke', 40, 72, 24]]
  : quick
    ? [
        ['bert qkv-ish', 1024, 768, 768],
        ['h128 ffn-in', 2048, 512, 128],
      ]
    : [
        ['bert 768x768', 4096, 768, 768],
        ['bert ffn-in 768x3072', 4096, 3072, 768],
        ['bert ffn-out 3072x768', 4096, 768, 3072],
        ['h128 128x128', 2048, 128, 128],
        ['h128 ffn-in 128x512', 2048, 512, 128],
        ['h128 ffn-out 512x128', 2048, 128, 512],
        // Serving one request (no bar): a mention's last layer has one [CLS] row, a short name a few tokens.
        ['1 row base ffn-in', 1, 3072, 768],
        ['1 row base ffn-out', 1, 768, 3072],
        ['1 row h128 ffn-in', 1, 512, 128],
        ['6 rows h128 qkv', 6, 384, 128],
        ['12 rows base qkv', 12, 2304, 768],
      ];
const dts: DType[] = !want('gemm') ? [] : device === 'cuda' ? ['f32', 'bf16'] : ['f32'];
for (const dt of dts)
  for (const [label, M, N, K] of gemmShapes) {
    const A = rand([M, K], dt),
      W = rand([N, K], dt),
      C = rand([M, N], dt);
    const flop = 2 * M * N * K;
    const ours = await timeMs(
      'gemm',
      () => {
        O.gemm(A, W, C, { transB: true });
        sync();
      },
      iters(),
    );
    const gflops = flop / ours / 1e6;
    const row: Record<string, string | number> = {
      op: `gemm ${label}`,
      dtype: dt,
      shape: `${M}x${N}x${K}`,
      'ours GFLOP/s': gflops,
    };
    if (blas) {
      const ob = await timeMs('openblas', () => addon.openblasSgemm(A, W, C, { transB: true, threads }));
      row['OpenBLAS GFLOP/s'] = flop / ob / 1e6;
      row['ours/OpenBLAS'] = ob / ours;
    }
    const result: Record<string, unknown> = { ...row, msOurs: ours };
    rows.push(row);
    results.push(result);
    if (device === 'cpu') cpuGemms.push({ label, gflops, row, result });
    for (const t of [A, W, C]) t.dispose();
  }
measurePeaks();
const peaks = WIDTHS.map(([width, lanes], i) => ({ width, lanes, gflops: Math.max(0, ...peakRuns.map((r) => r[i] ?? 0)) })).filter(
  (p) => p.gflops > 0,
);
const widest = peaks.at(-1);
if (device === 'cpu' && want('gemm')) {
  rows.unshift(...peaks.map((p) => ({ op: `fma peak ${p.width}`, dtype: 'f32', shape: `${p.lanes} lanes`, 'ours GFLOP/s': p.gflops })));
  results.push({ op: 'fma peak', threads, peaks, runs: peakRuns });
}
if (widest)
  for (const { label, gflops, row, result } of cpuGemms) {
    const ofPeak = gflops / widest.gflops,
      bar = label.startsWith('bert');
    row[`of ${widest.width} peak`] = `${(100 * ofPeak).toFixed(1)}%`;
    Object.assign(result, { ofPeak, peak: widest.width, bar: bar ? GEMM_BAR : null });
    if (bar)
      bars.push(
        `f32 GEMM ${label}: ${gflops.toFixed(0)} GFLOP/s = ${(100 * ofPeak).toFixed(1)}% of the ${widest.width} FMA peak (${widest.gflops.toFixed(0)} GFLOP/s); bar ${100 * GEMM_BAR}% -> ${ofPeak >= GEMM_BAR ? 'ok' : 'NO'}`,
      );
  }

// Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s, by device name.
const BF16_PEAK: Array<[RegExp, number]> = [
  [/H200/, 989],
  [/H100.*PCIe/, 756],
  [/H100 NVL/, 835],
  [/H100|GH200/, 989],
  [/A100/, 312],
  [/L40S/, 362],
  [/L4\b/, 121],
];
if (device === 'cuda' && want('gemm')) {
  const n = smoke ? 128 : 4096,
    A = rand([n, n], 'bf16'),
    B = rand([n, n], 'bf16'),
    C = rand([n, n], 'bf16');
  // Ten GEMMs per timed run and one synchronisation: at ~0.2 ms a GEMM on an H100, a sync and
  // the N-API call per GEMM would otherwise cost several percent of the figure.
  const reps = smoke ? 1 : 10;
  const ms =
    (await timeMs(
      'gemm4096',
      () => {
        for (let r = 0; r < reps; r++) O.gemm(A, B, C, { transB: true });
        sync();
      },
      smoke ? iters() : { iterations: 20 },
    )) / reps;
  const tflops = (2 * n ** 3) / ms / 1e9;
  const { cudaDevice: name, gemmEngine } = engineInfo();
  const peak = Number(flagValue('peak-tflops', '0')) || BF16_PEAK.find(([re]) => re.test(name))?.[1] || 0;
  const ofPeak = peak ? tflops / peak : null;
  rows.push({
    op: `gemm ${n}^3`,
    dtype: 'bf16',
    shape: `${n}x${n}x${n}`,
    'ours GFLOP/s': tflops * 1000,
    ...(ofPeak !== null ? { 'of bf16 peak': `${(100 * ofPeak).toFixed(1)}%` } : {}),
  });
  results.push({
    op: `gemm ${n}^3 bf16`,
    tflops,
    device: name,
    gemmEngine,
    peakTflops: peak || null,
    ofPeak,
    bar: 0.6,
    pass: ofPeak !== null ? ofPeak >= 0.6 : null,
  });
  console.log(
    ofPeak !== null
      ? `bf16 ${n}^3 GEMM: ${tflops.toFixed(1)} TFLOP/s = ${(100 * ofPeak).toFixed(1)}% of ${name}'s dense bf16 peak (${peak} TFLOP/s); bar 60% -> ${ofPeak >= 0.6 ? 'ok' : 'NO'}`
      : `bf16 ${n}^3 GEMM: ${tflops.toFixed(1)} TFLOP/s; peak of "${name}" unknown: pass --peak-tflops`,
  );
  for (const t of [A, B, C]) t.dispose();
}

// Attention, BERT-base: B=8, T=128, H=12, D=64, forward and backward.
if (want('attention')) {
  const [B, T, H, D] = smoke ? [1, 16, 2, 64] : quick ? [2, 128, 12, 64] : [8, 128, 12, 64];
  const dt: DType = device === 'cuda' ? 'bf16' : 'f32';
  const qkv = rand([B, T, 3, H, D], dt),
    out = rand([B, T, H, D], dt),
    lse = tensor(device, 'f32', [B, H, T]);
  const mask = tensor(
    device,
    'i32',
    [B, T],
    Int32Array.from({ length: B * T }, (_, i) => (i % T < (T * 3) / 4 ? 1 : 0)),
  );
  const dq = rand([B, T, 3, H, D], dt);
  const f = await timeMs(
    'attn fwd',
    () => {
      O.attention(qkv, mask, out, lse);
      sync();
    },
    iters(),
  );
  const b = await timeMs(
    'attn bwd',
    () => {
      O.attentionBackward(qkv, mask, out, out, lse, dq);
      sync();
    },
    iters(),
  );
  const flop = 4 * B * H * T * T * D;
  rows.push({ op: 'attention fwd', dtype: dt, shape: `B${B} T${T} H${H} D${D}`, 'ours GFLOP/s': flop / f / 1e6, ms: f });
  rows.push({ op: 'attention bwd', dtype: dt, shape: `B${B} T${T} H${H} D${D}`, 'ours GFLOP/s': (2.5 * flop) / b / 1e6, ms: b });
  results.push({ op: 'attention', B, T, H, D, fwdMs: f, bwdMs: b });
}

// LayerNorm: N x 768, GB/s over x read + y written.
if (want('layernorm')) {
  const [N, C] = [smoke ? 64 : quick ? 4096 : 16384, 768];
  const x = rand([N, C]),
    w = rand([C]),
    bb = rand([C]),
    y = rand([N, C]);
  const mean = tensor(device, 'f32', [N]),
    rstd = tensor(device, 'f32', [N]);
  const ms = await timeMs(
    'layernorm',
    () => {
      O.layernorm(x, w, bb, y, mean, rstd, 1e-12);
      sync();
    },
    smoke ? iters() : { iterations: 10 },
  );
  const gbs = (2 * N * C * 4) / ms / 1e6;
  rows.push({ op: 'layernorm fwd', dtype: 'f32', shape: `${N}x${C}`, 'GB/s': gbs, ms });
  results.push({ op: 'layernorm', N, C, ms, gbs });
}

// Top-k: Q queries x P entities x 768, k = 64, against the bare GEMM of the same scores.
if (want('topk')) {
  const [Q, P, D, k] = smoke ? [8, 500, 64, 8] : quick ? [256, 20000, 768, 64] : [1024, 100000, 768, 64];
  const q = rand([Q, D]),
    pool = rand([P, D]);
  const s = tensor(device, 'f32', [Q, k]),
    ix = tensor(device, 'i32', [Q, k]);
  const topk = await timeMs(
    'topk',
    () => {
      O.topk(q, pool, k, s, ix);
      sync();
    },
    { iterations: 2, time: 0 },
  );
  const full = tensor(device, 'f32', [Q, P]);
  const gemm = await timeMs(
    'topk gemm',
    () => {
      O.gemm(q, pool, full, { transB: true });
      sync();
    },
    { iterations: 2, time: 0 },
  );
  full.dispose();
  rows.push({ op: 'topk', dtype: 'f32', shape: `${Q}x${P}x${D} k${k}`, ms: topk, 'gemm ms': gemm, 'topk/gemm': topk / gemm });
  results.push({ op: 'topk', Q, P, D, k, ms: topk, gemmMs: gemm, ratio: topk / gemm });
}

const m = machine();
const peer = device !== 'cpu' ? '' : blas ? `, peer ${blas}` : ', no OpenBLAS found (apt install libopenblas0-pthread)';
console.log(
  `machine: ${m.cpu} (${m.cores} cores), threads ${threads}, device ${device}${device === 'cuda' ? ` (${engineInfo().cudaDevice})` : ''}${peer}`,
);
if (cpuFacts) {
  const id = cpuId();
  console.log(
    `cpu: ${m.cpu} (${id.vendor} family ${id.family} model ${id.model}: ${id.tag}), flags ${id.flags.join(' ')}; kernels ${cpuFacts.cpuKernel}, level ${cpuFacts.cpuLevel} (detected ${cpuFacts.cpuDetectedLevel})`,
  );
}
console.log(table(rows));
for (const b of bars) console.log(b);
const suffix = `${smoke ? '-smoke' : quick ? '-quick' : ''}${only.length ? `-${only.join('-')}` : ''}`;
// CPU results are named with the CPU (and the level when BIOFEG_CPU_KERNEL lowers it), so runs on
// different machines and levels sit side by side; kernels-cpu.json is the AVX2-era file.
const cpuName = cpuFacts ? `-${cpuId().tag}${cpuFacts.cpuLevel !== cpuFacts.cpuDetectedLevel ? `-${cpuFacts.cpuLevel}` : ''}` : '';
const file = writeResult(`kernels-${device}${cpuName}${suffix}.json`, {
  machine: m,
  settings: { threads, device, quick, smoke, only, cpuKernel: cpuFacts?.cpuKernel, cpuLevel: cpuFacts?.cpuLevel },
  results,
});
console.log(`wrote ${file}`);
