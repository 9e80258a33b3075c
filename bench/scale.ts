// npm run bench:scale [-- --size tiny --batch 32 --steps 20 --length 32 --negatives local --threads 1 --bucket-cap-mb 25]
// Data-parallel scaling on this machine's CPUs: the same global batches trained by 1 process and by
// 2 ranks under mpirun (each rank --threads engine threads; the global batch is split between the
// ranks, so 2 ranks at 100% efficiency run twice the steps per second); the 2 ranks run twice:
// gradient buckets of --bucket-cap-mb sent during the backward, and one all-reduce per part after
// it (--bucket-cap-mb 0), with the buckets each update sent and how many overlapped. Then a model of the
// gradient all-reduce's cost for bigger setups (ring all-reduce over the given bandwidths; these
// figures are arithmetic, not measurements). Writes bench/results/scale-cpu.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { prepare } from '../src/data/prepare.js';
import { builtinData } from '../src/paths.js';
import { modelTokenizer, openCache } from '../src/stages/setup.js';
import { flagValue, machine, table, writeResult } from './common.js';

const size = flagValue('size', 'tiny');
const batch = Number(flagValue('batch', '32'));
const steps = Number(flagValue('steps', '20'));
const len = Number(flagValue('length', '32'));
const negatives = flagValue('negatives', 'local');
const threads = Number(flagValue('threads', '1'));
const bucketCapMb = Number(flagValue('bucket-cap-mb', '25'));
if (!(bucketCapMb > 0)) throw new Error(`--bucket-cap-mb must be > 0 (the 0 run is always made), got ${bucketCapMb}`);
if (negatives !== 'local' && negatives !== 'global') throw new Error(`--negatives must be local or global, got ${negatives}`);

interface RankResult {
  ranks: number;
  msPerStep: number;
  gradBytes: number;
  buckets: number;
  overlapped: number;
}

/** Ring all-reduce time of `bytes` over `n` ranks: 2(n-1)/n of the data over the slowest link, plus 2(n-1) latencies. */
export function ringAllreduceMs(bytes: number, n: number, gbPerSecond: number, latencyUs: number): number {
  if (n <= 1) return 0;
  return ((2 * (n - 1)) / n) * (bytes / (gbPerSecond * 1e9)) * 1e3 + (2 * (n - 1) * latencyUs) / 1e3;
}

const dir = mkdtempSync(join(tmpdir(), 'biofeg-scale-'));
try {
  await prepare({ dataDir: builtinData.dir, outDir: join(dir, 'processed') });
  const tok = modelTokenizer(undefined, builtinData.vocabPath);
  const lens = { maxContextLength: len, maxCandLength: len, cacheDir: join(dir, 'cache') };
  // Built once here, so that the ranks only read them.
  await openCache(tok, { kind: 'entities', source: join(builtinData.dir, 'documents', 'all_documents.json'), name: 'entities', ...lens });
  for (const s of ['train', 'val'])
    await openCache(tok, { kind: 'mentions', source: join(dir, 'processed', `${s}.jsonl`), name: s, ...lens });

  const env = { ...process.env, BIOFEG_THREADS: String(threads) };
  const runRanks = (ranks: number, bucketMb: number): RankResult & { bucketMb: number } => {
    const args = JSON.stringify({ dir, size, batch, steps, len, negatives, bucketCapMb: bucketMb });
    const node = [process.execPath, '--import', 'tsx', join(import.meta.dirname, 'scale-rank.ts'), args];
    const r =
      ranks === 1
        ? spawnSync(node[0]!, node.slice(1), { encoding: 'utf8', env })
        : spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'core', '-np', String(ranks), ...node], {
            encoding: 'utf8',
            env,
          });
    if (r.status !== 0)
      throw new Error(`${ranks} rank(s) failed (${r.error?.message ?? r.status}):\n${(r.stdout ?? '') + (r.stderr ?? '')}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`${ranks} rank(s): no result line:\n${r.stdout}`);
    return { ...(JSON.parse(line) as RankResult), bucketMb };
  };
  const haveMpirun = spawnSync('mpirun', ['--version']).status === 0;
  const results = [runRanks(1, bucketCapMb)];
  if (haveMpirun) results.push(runRanks(2, bucketCapMb), runRanks(2, 0));
  else console.log('mpirun not found (install openmpi-bin): measured 1 rank only');
  const base = results[0]!;
  const rows = results.map((r) => {
    const stepsPerS = 1000 / r.msPerStep;
    return {
      ranks: r.ranks,
      'all-reduce': r.ranks === 1 ? 'none' : r.bucketMb > 0 ? `${r.bucketMb} MiB buckets in backward` : 'after backward',
      'buckets/update': r.buckets,
      overlapped: r.overlapped,
      'ms/step': r.msPerStep,
      'steps/s': stepsPerS,
      'mentions/s': stepsPerS * batch,
      'efficiency %': (100 * stepsPerS) / (r.ranks * (1000 / base.msPerStep)),
    };
  });
  const m = machine();
  console.log(
    `machine: ${String(m['cpu'])} (${String(m['cores'])} cores); ${size} BERT, global batch ${batch}, length ${len}, ${steps} steps, ${threads} thread(s) per rank, ${negatives} negatives`,
  );
  console.log(table(rows));

  // The model: gradient bytes per update of this model and of a base-sized bi-encoder (2 BERT-base
  // encoders, 2 x 109.5M parameters), all-reduced once per update (f32 here; bf16 halves it).
  const baseParams = 2 * 109_482_240;
  const setups = [
    { setup: '8 GPUs, one node, NVLink (NCCL bus bandwidth ~360 GB/s)', n: 8, gbps: 360, latencyUs: 5 },
    { setup: '2 nodes x 8 GPUs, InfiniBand NDR 400 Gb/s per GPU (~45 GB/s)', n: 16, gbps: 45, latencyUs: 10 },
    { setup: '4 nodes x 8 GPUs, InfiniBand NDR 400 Gb/s per GPU (~45 GB/s)', n: 32, gbps: 45, latencyUs: 10 },
    { setup: '4 nodes, 100 Gb/s Ethernet per node (~11 GB/s)', n: 4, gbps: 11, latencyUs: 30 },
  ];
  const model = setups.flatMap((s) =>
    [
      { what: `${size} (this run)`, bytes: base.gradBytes },
      { what: 'base bi-encoder f32', bytes: baseParams * 4 },
      { what: 'base bi-encoder bf16', bytes: baseParams * 2 },
    ].map((g) => ({
      setup: s.setup,
      gradients: g.what,
      MB: g.bytes / 1e6,
      'all-reduce ms': ringAllreduceMs(g.bytes, s.n, s.gbps, s.latencyUs),
    })),
  );
  console.log(
    '\nModel (arithmetic, not measured): ring all-reduce of the gradients once per update, t = 2(n-1)/n x bytes / bandwidth + 2(n-1) x latency',
  );
  console.log(table(model));
  const file = writeResult('scale-cpu.json', {
    machine: m,
    settings: { size, batch, steps, len, negatives, threads, bucketCapMb },
    results: rows,
    model,
  });
  console.log(`wrote ${file}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
