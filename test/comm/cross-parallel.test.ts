// Data-parallel cross-encoder training over MPI (issue 23): 2 ranks under mpirun train the same
// tiny cross-encoder (dropout 0) as one process on the same global batches of 5 mentions (uneven
// shards of 3 and 2) and end with the same weights and losses. Not bitwise: each rank's gradient is
// its mentions' part, MPI sums the two where one process sums all rows in one pass, so float
// rounding differs (tolerances below). Skipped, with the reason printed, where mpirun is absent
// (CI installs openmpi-bin).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { evaluateBiencoder } from '../../src/index.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { haveMpirun, launchScenario, maxAbsDiff, noMpirunReason, rankOutputs, stepLosses } from './rank-runs.js';

if (!haveMpirun) console.log(`skipping the mpirun cross-encoder tests: ${noMpirunReason}`);

let cands: string;
beforeAll(async () => {
  if (!haveMpirun) return;
  const data = await smallDataset({ train: 120, val: 12, test: 4 });
  const out = tmp('biofeg-dp-cross-bi-');
  await evaluateBiencoder({
    dataPath: data.processed,
    outputPath: out,
    bertModel: 'tiny',
    seed: 11,
    topK: 8,
    modes: ['train', 'valid'],
    saveTopkResult: true,
    maxContextLength: 24,
    maxCandLength: 24,
    device: 'cpu',
    workers: 0,
    encodeBatchSize: 64,
    evalBatchSize: 16,
  });
  cands = join(out, 'top8_candidates');
}, 120_000);
afterAll(() => cleanup());

interface Run {
  params: Float32Array[];
  losses: number[];
  results: { rank: number; size: number; backend: string; steps: number; accuracies: (number | null)[]; mentions: number }[];
}

function run(ranks: number, s: { batch: number; gradAcc: number; epochs: number }): Run {
  const out = tmp('biofeg-dp-cross-');
  launchScenario('cross-scenario.ts', ranks, { cands, out, ...s });
  // Rank 0 alone writes the run folder's checkpoints.
  expect(existsSync(join(out, 'epoch_0', 'model.safetensors'))).toBe(true);
  return { ...rankOutputs<Run['results'][number]>(out, ranks), losses: stepLosses(out) };
}

describe.skipIf(!haveMpirun)('data-parallel cross-encoder training under mpirun -np 2', () => {
  it('2 ranks = 1 process on the same global batches; both ranks hold identical weights', () => {
    const s = { batch: 5, gradAcc: 1, epochs: 1 };
    const two = run(2, s);
    const one = run(1, s);
    expect(two.results.map((r) => [r.rank, r.size, r.backend])).toEqual([
      [0, 2, 'mpi'],
      [1, 2, 'mpi'],
    ]);
    const steps = Math.ceil(one.results[0]!.mentions / 5);
    console.log(`cross-encoder: ${one.results[0]!.mentions} training mentions`);
    expect(steps).toBeGreaterThan(1);
    expect(one.results[0]).toMatchObject({ size: 1, backend: 'single', steps });
    expect(two.results[0]!.steps).toBe(steps);
    // Every rank takes the same update from the same summed gradient (rank 1 started from other weights).
    expect(Buffer.from(two.params[1]!.buffer).equals(Buffer.from(two.params[0]!.buffer))).toBe(true);
    // Sharded validation (val batch k on rank k mod 2, hits summed) on identical weights before training.
    expect(two.results[0]!.accuracies[0]).toBe(one.results[0]!.accuracies[0]);
    expect(two.results[1]!.accuracies).toEqual(two.results[0]!.accuracies);
    expect(two.losses).toHaveLength(steps);
    expect(one.losses).toHaveLength(steps);
    // The first loss is computed on identical weights.
    expect(Math.abs(two.losses[0]! - one.losses[0]!)).toBeLessThan(1e-6);
    for (let i = 0; i < steps; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!), `loss ${i}`).toBeLessThan(1e-5);
    const d = maxAbsDiff(two.params[0]!, one.params[0]!);
    console.log(`cross-encoder: max |w(2 ranks) - w(1 process)| = ${d.toExponential(2)}`);
    expect(d).toBeLessThan(2e-5);
  });
});
