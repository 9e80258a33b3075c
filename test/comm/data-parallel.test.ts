// Data-parallel training over MPI (issue 23): 2 ranks under mpirun train the same tiny bi-encoder
// as one process on the same global batch and end with the same weights and losses.
//   local negatives (each rank its own half of the batch) = one process with 2 accumulation
//     micro-batches of those halves;
//   global negatives (all-gathered candidates)           = one process on the whole batch.
// Not bitwise: the ranks' gradient halves are summed by MPI where one process sums all rows in
// one pass (and its GEMMs see other row counts), so float rounding differs. Tolerances below.
// Skipped, with the reason printed, where mpirun is absent (CI installs openmpi-bin).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readTrainerState } from '../../src/train/train-biencoder.js';
import { caches, cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { haveMpirun, launchScenario, logEvents, maxAbsDiff, noMpirunReason, rankOutputs, stepLosses } from './rank-runs.js';

if (!haveMpirun) console.log(`skipping the mpirun tests: ${noMpirunReason}`);

let data: { processed: string; entities: string };
beforeAll(async () => {
  const d = await smallDataset({ train: 48, val: 16, test: 4 });
  data = { processed: d.processed, entities: d.entities };
  // Built once here: the ranks then only open the caches (no two writers).
  await caches(d.processed, d.entities, 'train');
  await caches(d.processed, d.entities, 'val');
});
afterAll(() => cleanup());

interface Run {
  params: Float32Array[];
  losses: number[];
  results: { rank: number; size: number; backend: string; steps: number; accuracies: number[] }[];
}

interface Scenario {
  negatives: 'local' | 'global';
  batch: number;
  gradAcc: number;
  epochs: number;
  stopRank1AfterPolls?: number;
  resume?: boolean;
  bucketCapMb?: number;
}

function run(ranks: number, s: Scenario, out = tmp('biofeg-dp-')): Run {
  launchScenario('train-scenario.ts', ranks, { ...data, out, ...s });
  return { ...rankOutputs<Run['results'][number]>(out, ranks), losses: stepLosses(out) };
}

describe.skipIf(!haveMpirun)('data-parallel training under mpirun -np 2', () => {
  it('local negatives: 2 ranks = 1 process accumulating the 2 halves; both ranks hold identical weights', () => {
    const two = run(2, { negatives: 'local', batch: 8, gradAcc: 1, epochs: 1 });
    const one = run(1, { negatives: 'local', batch: 8, gradAcc: 2, epochs: 1 });
    expect(two.results.map((r) => [r.rank, r.size, r.backend])).toEqual([
      [0, 2, 'mpi'],
      [1, 2, 'mpi'],
    ]);
    expect(one.results[0]).toMatchObject({ size: 1, backend: 'single', steps: 6 });
    expect(two.results[0]!.steps).toBe(6); // 48 examples / 8 per global batch
    // Validation is sharded (val batch k on rank k mod 2) and its counts summed: every rank gets
    // the single process's accuracies (before training and after the epoch).
    expect(two.results[0]!.accuracies).toHaveLength(2);
    expect(two.results[1]!.accuracies).toEqual(two.results[0]!.accuracies);
    expect(two.results[0]!.accuracies).toEqual(one.results[0]!.accuracies);
    // Every rank takes the same update from the same summed gradient: bitwise equal weights
    // (rank 1 started from other weights, so rank 0's broadcast is tested too).
    expect(Buffer.from(two.params[1]!.buffer).equals(Buffer.from(two.params[0]!.buffer))).toBe(true);
    expect(two.losses).toHaveLength(one.losses.length);
    expect(two.losses.length).toBeGreaterThan(0);
    for (let i = 0; i < one.losses.length; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!), `loss ${i}`).toBeLessThan(1e-5);
    const d = maxAbsDiff(two.params[0]!, one.params[0]!);
    console.log(`local negatives: max |w(2 ranks) - w(1 process)| = ${d.toExponential(2)}`);
    expect(d).toBeLessThan(2e-5);
  });

  it('global negatives: 2 ranks = 1 process on the whole batch (same losses, same weights)', () => {
    const two = run(2, { negatives: 'global', batch: 8, gradAcc: 1, epochs: 1 });
    const one = run(1, { negatives: 'global', batch: 8, gradAcc: 1, epochs: 1 });
    const local = run(2, { negatives: 'local', batch: 8, gradAcc: 1, epochs: 1 });
    expect(Buffer.from(two.params[1]!.buffer).equals(Buffer.from(two.params[0]!.buffer))).toBe(true);
    expect(two.losses).toHaveLength(one.losses.length);
    // The first loss is computed on identical weights: only the GEMMs' row counts differ.
    expect(Math.abs(two.losses[0]! - one.losses[0]!)).toBeLessThan(1e-6);
    for (let i = 0; i < one.losses.length; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!), `loss ${i}`).toBeLessThan(1e-5);
    // Against 4 in-batch negatives instead of 8 the loss is another one (ln 4 vs ln 8 at the start).
    expect(Math.abs(local.losses[0]! - one.losses[0]!)).toBeGreaterThan(0.1);
    const d = maxAbsDiff(two.params[0]!, one.params[0]!);
    console.log(`global negatives: max |w(2 ranks) - w(1 process)| = ${d.toExponential(2)}`);
    expect(d).toBeLessThan(2e-5);
  });

  it('gradient buckets sent during the backward give the weights of one all-reduce after it, bitwise, also when a rank has no rows', () => {
    // 48 examples in global batches of 47: the second batch's one row is rank 0's, and rank 1
    // issues the same buckets without a backward. Two ranks' halves are summed a + b either way.
    const out = tmp('biofeg-dp-buckets-');
    const bucketed = run(2, { negatives: 'local', batch: 47, gradAcc: 1, epochs: 1, bucketCapMb: 0.02 }, out);
    const afterOut = tmp('biofeg-dp-after-');
    const after = run(2, { negatives: 'local', batch: 47, gradAcc: 1, epochs: 1, bucketCapMb: 0 }, afterOut);
    expect(bucketed.results[0]!.steps).toBe(2);
    const [first] = logEvents<{ bucketMiB: number; buckets: number; overlapped: number }>(out, 'allreduce');
    console.log(`buckets of 0.02 MiB: ${JSON.stringify(first)}`);
    // A tiny BERT's layer is about 8,500 floats, over a 0.02 MiB bucket (5,243): each of the two
    // BERTs sends its last layer and its first while the backward goes on, then its embeddings.
    expect(first).toMatchObject({ bucketMiB: 0.02, buckets: 6, overlapped: 4 });
    expect(logEvents(afterOut, 'allreduce')).toHaveLength(0);
    for (const k of [0, 1]) {
      expect(Buffer.from(bucketed.params[k]!.buffer).equals(Buffer.from(after.params[0]!.buffer)), `rank ${k}`).toBe(true);
      expect(Buffer.from(after.params[k]!.buffer).equals(Buffer.from(after.params[0]!.buffer)), `rank ${k}`).toBe(true);
    }
    expect(bucketed.losses).toEqual(after.losses);
  });

  it('a stop seen by rank 1 alone stops both ranks at one step; rank 0 writes last/; the resumed run equals an uninterrupted one bitwise', () => {
    const s: Scenario = { negatives: 'local', batch: 8, gradAcc: 1, epochs: 2 };
    const full = run(2, s);
    const out = tmp('biofeg-dp-stop-');
    launchScenario('train-scenario.ts', 2, { ...data, out, ...s, stopRank1AfterPolls: 8 }); // 6 steps an epoch: the 8th is epoch 1, micro-batch 1
    expect([0, 1].map((k) => existsSync(join(out, `stopped.rank${k}.json`)))).toEqual([true, true]);
    expect(readTrainerState(join(out, 'last'))).toMatchObject({ epoch: 1, microStep: 2, updates: 8 });
    const resumed = run(2, { ...s, resume: true }, out);
    expect(resumed.results[0]!.steps).toBe(12);
    for (const k of [0, 1])
      expect(Buffer.from(resumed.params[k]!.buffer).equals(Buffer.from(full.params[0]!.buffer)), `rank ${k}`).toBe(true);
  });
});
