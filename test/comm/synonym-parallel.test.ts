// Data-parallel synonym pretraining over MPI (issue 23), test/comm/synonym-scenario.ts on 1 process
// or 2 ranks:
//   global negatives (all-gathered [CLS] vectors) = one process on the whole batch: the same
//     multi-similarity loss, whose pairs range over the whole batch;
//   local negatives (each rank mines its own shard, as DDP) = the shards' losses weighted by their
//     pairs: another objective than the whole batch's;
//   a stop seen by one rank stops both; the resumed run is the uninterrupted one.
// Skipped, with the reason printed, where mpirun is absent (CI installs openmpi-bin).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { Bert } from '../../src/models/bert.js';
import { cleanup, tmp } from '../eval/retrieve-helpers.js';
import { tinyBertConfig } from '../support/tiny-bert.js';
import { haveMpirun, launchScenario, maxAbsDiff, noMpirunReason, rankOutputs, stepLosses } from './rank-runs.js';

if (!haveMpirun) console.log(`skipping the mpirun synonym-pretraining tests: ${noMpirunReason}`);
afterAll(() => cleanup());

interface Scenario {
  negatives: 'local' | 'global';
  batch: number;
  epochs: number;
  learningRate: number;
  stopRank1AfterPolls?: number;
  resume?: boolean;
}

interface Run {
  out: string;
  params: Float32Array[];
  losses: number[];
  results: { rank: number; size: number; backend: string; steps: number; epochLosses: number[] }[];
}

const runs = new Map<string, Run>();
/** The scenario's outputs; a run that several tests compare with is made once. */
function run(ranks: number, s: Scenario, out = tmp('biofeg-syn-dp-')): Run {
  const key = JSON.stringify([ranks, s]);
  const made = runs.get(key);
  if (made) return made;
  launchScenario('synonym-scenario.ts', ranks, { out, ...s });
  const r = { out, ...rankOutputs<Run['results'][number]>(out, ranks), losses: stepLosses(out) };
  runs.set(key, r);
  return r;
}

/**
 * The largest weight difference outside the attention key biases. Those have a zero gradient in
 * exact arithmetic (q.b_k is the same for every key of a query: the softmax drops it), so theirs is
 * rounding noise, which AdamW's m / (sqrt(v) + 1e-8) turns into steps of up to the learning rate:
 * another summation order, other steps. They are reported apart, not compared.
 */
function weightDiffs(a: Float32Array, b: Float32Array): { rest: number; keyBias: number } {
  const bert = new Bert(tinyBertConfig({ pooler: true, dropout: 0 }), 'cpu');
  const keyBias = new Uint8Array(a.length);
  for (const e of bert.layout) if (e.name.endsWith('attention.self.key.bias')) keyBias.fill(1, e.offset, e.offset + e.shape[0]!);
  bert.dispose();
  const d = { rest: 0, keyBias: 0 };
  for (let i = 0; i < a.length; i++) {
    const k = keyBias[i] ? 'keyBias' : 'rest';
    d[k] = Math.max(d[k], Math.abs(a[i]! - b[i]!));
  }
  return d;
}

const same = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// 36 pairs in batches of 7: shards of 4 and 3 pairs, the last batch 1 pair (rank 1 has none).
const GLOBAL: Scenario = { negatives: 'global', batch: 7, epochs: 2, learningRate: 1e-2 };

describe.skipIf(!haveMpirun)('synonym pretraining under mpirun -np 2', () => {
  it('global negatives: 2 ranks = 1 process on the whole batch (same losses, same weights)', () => {
    const two = run(2, GLOBAL);
    const one = run(1, GLOBAL);
    expect(two.results.map((r) => [r.rank, r.size, r.backend, r.steps])).toEqual([
      [0, 2, 'mpi', 12],
      [1, 2, 'mpi', 12],
    ]);
    expect(one.results[0]).toMatchObject({ size: 1, backend: 'single', steps: 12 });
    // Every rank takes the same update from the same summed gradient (and rank 1, started from
    // other weights, got rank 0's by the broadcast).
    expect(same(two.params[1]!, two.params[0]!)).toBe(true);
    expect(two.losses).toHaveLength(12);
    expect(one.losses).toHaveLength(12);
    // The first loss is on identical weights: the CPU GEMM gives a row the same bits in any batch
    // (test/gemm-rows.test.ts), so the gathered [CLS] vectors and the loss over them are bitwise
    // the single process's.
    expect(two.losses[0]).toBe(one.losses[0]);
    expect(two.losses[0]).toBeGreaterThan(0.5); // pairs were mined: no 0 == 0
    // After that not bitwise: a weight's gradient is two ranks' partial sums added by MPI where one
    // process sums all rows in one GEMM, so float rounding differs (about 1e-7 relative a step).
    for (let i = 1; i < 12; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!), `loss ${i}`).toBeLessThan(1e-5);
    expect(maxAbsDiff(two.params[0]!, one.params[0]!)).toBeGreaterThan(0); // two computations: the tolerance is needed
    const d = weightDiffs(two.params[0]!, one.params[0]!);
    console.log(
      `synonyms, global negatives: max |w(2 ranks) - w(1 process)| = ${d.rest.toExponential(2)} (key biases ${d.keyBias.toExponential(2)})`,
    );
    expect(d.rest).toBeLessThan(2e-5);
  });

  it("local negatives: the first logged loss is the shards' losses weighted by their pairs, bitwise; both ranks hold identical weights", () => {
    // Batches of 8: shards of 4. A single process in batches of 4 at learning rate 0 scores those
    // shards one by one at the start weights.
    const two = run(2, { negatives: 'local', batch: 8, epochs: 1, learningRate: 1e-2 });
    const shards = run(1, { negatives: 'local', batch: 4, epochs: 1, learningRate: 0 });
    expect(same(two.params[1]!, two.params[0]!)).toBe(true);
    expect(two.results[0]!.steps).toBe(5);
    expect(shards.losses).toHaveLength(9);
    // The first step is on the start weights: globalMeanLoss's sum, bit for bit.
    const [a, b] = [shards.losses[0]!, shards.losses[1]!];
    expect(a).not.toBe(b);
    expect(two.losses[0]).toBe((a * 4 + b * 4) / 8);
  });

  it('a stop seen by rank 1 alone stops both ranks at one step; rank 0 writes last/; the resumed run equals an uninterrupted one bitwise', () => {
    const full = run(2, GLOBAL);
    const out = tmp('biofeg-syn-stop-');
    // 6 batches an epoch: the 8th poll is after epoch 1's second batch.
    launchScenario('synonym-scenario.ts', 2, { out, ...GLOBAL, stopRank1AfterPolls: 8 });
    expect([0, 1].map((k) => existsSync(join(out, `stopped.rank${k}.json`)))).toEqual([true, true]);
    const state = JSON.parse(readFileSync(join(out, 'last', 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    expect(state).toMatchObject({ epoch: 1, microStep: 2, updates: 8 });
    const resumed = run(2, { ...GLOBAL, resume: true }, out);
    expect(resumed.results[0]!.steps).toBe(12);
    // Epoch 0 ended before the stop; a resumed epoch's mean is of its remaining batches (PretrainResult).
    expect(resumed.results[0]!.epochLosses[0]).toBe(full.results[0]!.epochLosses[0]);
    // One log across both runs: the 8 steps before the stop, then the 4 after the resume.
    expect(resumed.losses).toEqual(full.losses);
    for (const k of [0, 1]) expect(same(resumed.params[k]!, full.params[0]!), `rank ${k}`).toBe(true);
  });
});
