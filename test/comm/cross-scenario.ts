import { join } from 'node:path';

import { Communicator } from '../../src/comm/communicator.js';
import { openCrossEncoder } from '../../src/train/cross-checkpoint.js';
import { openTopk } from '../../src/train/cross-data.js';
import { trainCrossEncoder } from '../../src/train/cross-train.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { writeRankOutputs } from './scenario-io.js';

interface Args {
  cands: string;
  out: string;
  batch: number;
  gradAcc: number;
  epochs: number;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const comm = Communicator.open();
const train = openTopk(join(a.cands, 'train.topk'));
const val = openTopk(join(a.cands, 'val.topk'));
// Rank 1 starts from other weights: the trainer must broadcast rank 0's.
const { model } = openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: 5353, seed: 1 + 1000 * comm.rank, dropout: 0 });
// The head's dropout (BLINK's fixed 0.1 before the linear layer) off too: masks are drawn per rank's rows.
Object.assign(model.encoder.linear!, { dropout: 0 });
const log = new JsonlLogger(comm.rank === 0 ? a.out : join(a.out, `rank${comm.rank}`));
const r = await trainCrossEncoder(
  { model, train, val, pairs: { maxContextLength: 24, maxSeqLength: 47 }, outputPath: a.out, comm },
  {
    learningRate: 1e-4,
    numTrainEpochs: a.epochs,
    trainBatchSize: a.batch,
    evalBatchSize: 4,
    gradientAccumulationSteps: a.gradAcc,
    warmupProportion: 0.1,
    maxGradNorm: 1,
    typeOptimization: 'all',
    seed: 5,
    printInterval: 1,
    evalInterval: 1000,
    shuffle: true,
  },
  { log },
);
log.close();
train.close();
val.close();
writeRankOutputs(a.out, comm, model.parts(), { steps: r.steps, accuracies: r.accuracies, mentions: train.count });
