// One rank of synonym pretraining for test/comm/synonym-parallel.test.ts: a 2-layer, 16-wide BERT
// on 12 made-up concepts of 3 names each (the 3 pairs of each: 36 pairs; names of 3 to 10 ids, so
// that shards pad to other lengths than their batch).
import { join } from 'node:path';

import { Communicator } from '../../src/comm/communicator.js';
import { AbortError } from '../../src/errors.js';
import { Bert } from '../../src/models/bert.js';
import type { DistNegatives } from '../../src/settings/types.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { pretrainSynonyms, type SynonymData } from '../../src/train/pretrain-synonyms.js';
import { mulberry32, randn } from '../support/rng.js';
import { tinyBertConfig } from '../support/tiny-bert.js';
import { rank1Stop, writeRankOutputs, writeStopped } from './scenario-io.js';

interface Args {
  out: string;
  negatives: DistNegatives;
  batch: number;
  epochs: number;
  learningRate: number;
  /** Rank 1 alone sees a stop request from its n-th poll on (the ranks must stop together). */
  stopRank1AfterPolls?: number;
  resume?: boolean;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;

function synonyms(): SynonymData {
  const r = mulberry32(17);
  const tokens: Int32Array[] = [];
  const left: number[] = [],
    right: number[] = [],
    label: number[] = [];
  for (let c = 0; c < 12; c++) {
    const first = tokens.length;
    for (let k = 0; k < 3; k++) {
      const len = 3 + Math.floor(r() * 8);
      // [CLS]-like 2, ids 4..39, [SEP]-like 3.
      tokens.push(Int32Array.from({ length: len }, (_, t) => (t === 0 ? 2 : t === len - 1 ? 3 : 4 + Math.floor(r() * 36))));
    }
    for (const [i, j] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      left.push(first + i);
      right.push(first + j);
      label.push(c);
    }
  }
  return { tokens, left: Int32Array.from(left), right: Int32Array.from(right), label: Int32Array.from(label) };
}

const comm = Communicator.open();
const config = tinyBertConfig({ pooler: true, dropout: 0 });
const bert = new Bert(config, 'cpu');
// Rank 1 starts from other weights: the trainer must broadcast rank 0's. Scale 0.5: with BERT's
// 0.02 every [CLS] is nearly the same and no triplet is mined.
bert.parameters().upload(randn(bert.numParameters, 11 + 1000 * comm.rank, 0.5));
const log = new JsonlLogger(comm.rank === 0 ? a.out : join(a.out, `rank${comm.rank}`));
const result = await pretrainSynonyms(
  { bert, saveConfig: config, data: synonyms(), outputPath: a.out, lowercase: true, resume: a.resume, comm, distNegatives: a.negatives },
  { learningRate: a.learningRate, weightDecay: 0.01, trainBatchSize: a.batch, epochs: a.epochs, seed: 3, shuffle: true },
  { log, interrupt: rank1Stop(comm, a.stopRank1AfterPolls) },
).catch((e: unknown) => {
  if (e instanceof AbortError) return undefined;
  throw e;
});
log.close();
if (result) {
  const part = { prefix: '', params: bert.parameters(), grads: bert.gradients(), layout: bert.layout };
  writeRankOutputs(a.out, comm, [part], { steps: result.steps, epochLosses: result.epochLosses });
} else writeStopped(a.out, comm);
