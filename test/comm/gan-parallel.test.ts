// Data-parallel GAN training over MPI (issue 23): 2 ranks under mpirun train the same tiny GAN as
// one process on the same global batches (7 rows: uneven shards of 4 and 3, then 3 and 3) and end
// with the same weights. The noise and the interpolation α are drawn for the whole global batch
// and sliced, so each row sees the single process's draws; E has no dropout. Not bitwise: each
// rank's gradient is its rows' mean scaled by its share and MPI sums the two, where one process
// sums all rows in one GEMM, so float rounding differs (tolerances below; Adam's normalised steps
// carry rounding differences of near-zero gradient elements into the weights).
// A stop seen by one rank stops both, and the resumed run ends bitwise equal to an uninterrupted one.
// Skipped, with the reason printed, where mpirun is absent (CI installs openmpi-bin).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readGanFile } from '../../src/train/gan-checkpoint.js';
import type { EpochLosses } from '../../src/train/train-gan.js';
import { caches, cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { haveMpirun, launchScenario, maxAbsDiff, noMpirunReason, rankOutputs } from './rank-runs.js';

if (!haveMpirun) console.log(`skipping the mpirun GAN tests: ${noMpirunReason}`);

let data: { processed: string; entities: string };
beforeAll(async () => {
  const d = await smallDataset({ train: 20, val: 8, test: 4 });
  data = { processed: d.processed, entities: d.entities };
  // Built once here: the ranks then only open the caches (no two writers).
  await caches(d.processed, d.entities, 'train');
  await caches(d.processed, d.entities, 'val');
});
afterAll(() => cleanup());

interface Scenario {
  batch: number;
  epochs: number;
  condGrad: 'original' | 'critic';
  stopRank1AfterPolls?: number;
  resume?: boolean;
  bucketCapMb?: number;
}

interface Run {
  params: Float32Array[];
  results: { rank: number; size: number; backend: string; accuracies: number[]; epochs: EpochLosses[] }[];
}

function launch(ranks: number, s: Scenario, out: string): void {
  launchScenario('gan-scenario.ts', ranks, { ...data, out, ...s });
}

function run(ranks: number, s: Scenario, out = tmp('biofeg-dp-gan-')): Run {
  launch(ranks, s, out);
  return rankOutputs<Run['results'][number]>(out, ranks);
}

const TOL = 1e-4;
const bitwise = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.skipIf(!haveMpirun)('data-parallel GAN training under mpirun -np 2', () => {
  for (const condGrad of ['critic', 'original'] as const)
    it(`condGrad ${condGrad}: 2 ranks = 1 process on the same global batches; both ranks hold identical weights`, () => {
      // critic: the encoder's gradients go in 0.02 MiB buckets during its backward (several per
      // step), each rank's scaled by its share of the rows (4 and 3) before the backward.
      const s: Scenario = { batch: 7, epochs: 1, condGrad, ...(condGrad === 'critic' ? { bucketCapMb: 0.02 } : {}) };
      const two = run(2, s);
      const one = run(1, s);
      expect(two.results.map((r) => [r.rank, r.size, r.backend])).toEqual([
        [0, 2, 'mpi'],
        [1, 2, 'mpi'],
      ]);
      expect(one.results[0]).toMatchObject({ size: 1, backend: 'single' });
      // Every rank takes the same update from the same summed gradient (rank 1 started from other
      // weights, so rank 0's broadcast is tested too).
      expect(bitwise(two.params[1]!, two.params[0]!)).toBe(true);
      expect(two.results[1]!.epochs).toEqual(two.results[0]!.epochs);
      // Validation is sharded (val batch k on rank k mod 2, counts summed): before training the
      // weights are identical, so the accuracy is the single process's exactly.
      expect(two.results[0]!.accuracies[0]).toBe(one.results[0]!.accuracies[0]);
      expect(two.results[1]!.accuracies).toEqual(two.results[0]!.accuracies);
      const [e2, e1] = [two.results[0]!.epochs[0]!, one.results[0]!.epochs[0]!];
      for (const k of ['disc', 'gen', 'mse', 'penalty', 'wasserstein'] as const)
        expect(Math.abs(e2[k]! - e1[k]!), `${k}: ${e2[k]} vs ${e1[k]}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(e1[k]!)));
      const d = maxAbsDiff(two.params[0]!, one.params[0]!);
      console.log(`GAN condGrad ${condGrad}: max |w(2 ranks) - w(1 process)| = ${d.toExponential(2)}`);
      expect(d).toBeLessThan(TOL);
    });

  it('a stop seen by rank 1 alone stops both ranks after one batch; rank 0 writes last; the resumed run equals an uninterrupted one bitwise', () => {
    const s: Scenario = { batch: 7, epochs: 2, condGrad: 'critic' };
    const full = run(2, s);
    const out = tmp('biofeg-dp-gan-stop-');
    launch(2, { ...s, stopRank1AfterPolls: 4 }, out); // 3 batches an epoch: the 4th is epoch 1, batch 0
    expect([0, 1].map((k) => existsSync(join(out, `stopped.rank${k}.json`)))).toEqual([true, true]);
    expect(readGanFile(join(out, 'last')).trainerState).toMatchObject({ epoch: 1, batch: 1 });
    const resumed = run(2, { ...s, resume: true }, out);
    expect(resumed.results[0]!.epochs).toEqual(full.results[0]!.epochs);
    for (const k of [0, 1]) expect(bitwise(resumed.params[k]!, full.params[0]!), `rank ${k}`).toBe(true);
  });
});
