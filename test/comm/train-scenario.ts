import { join } from 'node:path';

import { Communicator } from '../../src/comm/communicator.js';
import { AbortError } from '../../src/errors.js';
import { BiEncoder } from '../../src/models/biencoder.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { trainBiencoder } from '../../src/train/train-biencoder.js';
import { caches, TINY } from '../eval/retrieve-helpers.js';
import { randn } from '../support/rng.js';
import { rank1Stop, writeRankOutputs, writeStopped } from './scenario-io.js';

interface Args {
  processed: string;
  entities: string;
  out: string;
  negatives: 'local' | 'global';
  batch: number;
  gradAcc: number;
  epochs: number;
  /** Rank 1 alone sees a stop request from its n-th poll on (the ranks must stop together). */
  stopRank1AfterPolls?: number;
  resume?: boolean;
  /** Gradient all-reduce bucket size (MiB; the trainer's default when absent). */
  bucketCapMb?: number;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const comm = Communicator.open();
const train = await caches(a.processed, a.entities, 'train');
const val = await caches(a.processed, a.entities, 'val');
const model = new BiEncoder({ config: { ...TINY, hiddenDropout: 0, attentionDropout: 0 }, device: 'cpu' });
// Rank 1 starts from other weights: the trainer must broadcast rank 0's.
model.parts().forEach((p, i) => p.params.upload(randn(p.params.shape[0]!, 100 + i + 1000 * comm.rank, 0.05)));
const log = new JsonlLogger(comm.rank === 0 ? a.out : join(a.out, `rank${comm.rank}`));
const interrupt = rank1Stop(comm, a.stopRank1AfterPolls);
const stopped = await trainBiencoder(
  {
    model,
    settings: { addLinear: false, outDim: 1 },
    train,
    val,
    outputPath: a.out,
    comm,
    distNegatives: a.negatives,
    resume: a.resume,
    bucketCapMb: a.bucketCapMb,
  },
  {
    learningRate: 1e-3,
    numTrainEpochs: a.epochs,
    trainBatchSize: a.batch,
    evalBatchSize: 8,
    gradientAccumulationSteps: a.gradAcc,
    warmupProportion: 0.1,
    maxGradNorm: 1,
    typeOptimization: 'all',
    seed: 7,
    printInterval: 1,
    evalInterval: 1000,
    shuffle: true,
  },
  { log, interrupt },
).catch((e: unknown) => {
  if (e instanceof AbortError) return undefined;
  throw e;
});
log.close();
if (!stopped) {
  writeStopped(a.out, comm);
  process.exit(0);
}
const r = stopped;
writeRankOutputs(a.out, comm, model.parts(), { steps: r.steps, accuracies: r.accuracies });
