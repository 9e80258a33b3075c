import { join } from 'node:path';

import { Communicator } from '../../src/comm/communicator.js';
import { AbortError } from '../../src/errors.js';
import { BiEncoder } from '../../src/models/biencoder.js';
import { DescriptionEncoder, Gan } from '../../src/models/gan.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { trainGan, type CondGrad } from '../../src/train/train-gan.js';
import { caches, TINY } from '../eval/retrieve-helpers.js';
import { randn } from '../support/rng.js';
import { rank1Stop, writeRankOutputs, writeStopped } from './scenario-io.js';

interface Args {
  processed: string;
  entities: string;
  out: string;
  batch: number;
  epochs: number;
  condGrad: CondGrad;
  /** Rank 1 alone sees a stop request from its n-th poll on (the ranks must stop together). */
  stopRank1AfterPolls?: number;
  resume?: boolean;
  bucketCapMb?: number;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const comm = Communicator.open();
const train = await caches(a.processed, a.entities, 'train');
const val = await caches(a.processed, a.entities, 'val');
// Rank 1 starts from other weights everywhere: the trainer must broadcast rank 0's.
const other = 1000 * comm.rank;
const biencoder = new BiEncoder({ config: TINY, device: 'cpu' });
biencoder.parts().forEach((p, i) => p.params.upload(randn(p.params.shape[0]!, 100 + i + other, 0.05)));
const encoder = new DescriptionEncoder({ ...TINY, hiddenDropout: 0, attentionDropout: 0 }, 'cpu');
encoder.parts().forEach((p, i) => p.params.upload(randn(p.params.shape[0]!, 200 + i + other, 0.05)));
const gan = new Gan(encoder, biencoder.embedDim, 'cpu');
gan.initMlps(5 + other);
const log = new JsonlLogger(comm.rank === 0 ? a.out : join(a.out, `rank${comm.rank}`));
const interrupt = rank1Stop(comm, a.stopRank1AfterPolls);
const r = await trainGan(
  { biencoder, gan, train, val, outputPath: a.out, comm, resume: a.resume, bucketCapMb: a.bucketCapMb },
  {
    learningRate: 1e-3,
    numTrainEpochs: a.epochs,
    trainBatchSize: a.batch,
    evalBatchSize: 4,
    criticIters: 2,
    typeOptimization: 'all_encoder_layers',
    seed: 7,
    saveEvery: 1,
    startSaving: 0,
    shuffle: true,
    mseWeight: 0.5,
    condGrad: a.condGrad,
  },
  { log, interrupt },
).catch((e: unknown) => {
  if (e instanceof AbortError) return undefined;
  throw e;
});
log.close();
if (!r) {
  writeStopped(a.out, comm);
  process.exit(0);
}
writeRankOutputs(a.out, comm, gan.parts(), { accuracies: r.accuracies, epochs: r.epochs });
