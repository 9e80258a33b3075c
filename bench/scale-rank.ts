// One rank of bench/scale.ts (started by it, alone or under mpirun): trains the bi-encoder on
// `steps` global batches of the prepared data and prints, on rank 0, one JSON line with the
// milliseconds per step (between the first and the last step: no setup, no validation).
//   node --import tsx bench/scale-rank.ts '<json>'   json: { dir, size, batch, steps, len, negatives, bucketCapMb }
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Communicator } from '../src/comm/communicator.js';
import { builtinData } from '../src/paths.js';
import { modelTokenizer, openCache } from '../src/stages/setup.js';
import { openBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { JsonlLogger } from '../src/train/jsonl-log.js';
import { trainBiencoder } from '../src/train/train-biencoder.js';

interface Args {
  dir: string;
  size: string;
  batch: number;
  steps: number;
  len: number;
  negatives: 'local' | 'global';
  bucketCapMb: number;
}
const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const comm = Communicator.open();
const tok = modelTokenizer(undefined, builtinData.vocabPath);
const lens = { maxContextLength: a.len, maxCandLength: a.len, cacheDir: join(a.dir, 'cache') };
// The driver built the caches: every rank only opens them.
const entities = await openCache(tok, {
  kind: 'entities',
  source: join(builtinData.dir, 'documents', 'all_documents.json'),
  name: 'entities',
  ...lens,
});
const mentions = await openCache(tok, { kind: 'mentions', source: join(a.dir, 'processed', 'train.jsonl'), name: 'train', ...lens });
const val = await openCache(tok, { kind: 'mentions', source: join(a.dir, 'processed', 'val.jsonl'), name: 'val', ...lens });
const n = a.steps * a.batch;
const train = {
  entities,
  mentions: Object.assign(Object.create(Object.getPrototypeOf(mentions)) as typeof mentions, mentions, {
    header: { ...mentions.header, rows: n },
  }),
};
const valSmall = {
  entities,
  mentions: Object.assign(Object.create(Object.getPrototypeOf(val)) as typeof val, val, { header: { ...val.header, rows: 8 } }),
};
const { model, settings } = openBiEncoder({
  device: 'cpu',
  bertModel: a.size,
  vocabSize: tok.tokenizer.vocabSize,
  seed: 52313,
  dropout: 0.1,
});
const gradBytes = model.parts().reduce((s, p) => s + p.grads.shape.reduce((x, y) => x * y, 1) * 4, 0);
const out = join(a.dir, `run-${comm.size}-${a.bucketCapMb}`);
let first = 0,
  last = 0;

const logger = new JsonlLogger(comm.rank === 0 ? out : join(out, 'ranks', `rank${comm.rank}`));
await trainBiencoder(
  { model, settings, train, val: valSmall, outputPath: out, comm, distNegatives: a.negatives, bucketCapMb: a.bucketCapMb },
  {
    learningRate: 1e-5,
    numTrainEpochs: 1,
    trainBatchSize: a.batch,
    evalBatchSize: 8,
    gradientAccumulationSteps: 1,
    warmupProportion: 0.1,
    maxGradNorm: 1,
    typeOptimization: 'all_encoder_layers',
    seed: 52313,
    printInterval: 1000,
    evalInterval: 1_000_000,
    shuffle: true,
  },
  {
    log: logger,
    progress: (_e, done) => {
      if (done === 1) first = performance.now();
      if (done === a.steps) last = performance.now();
    },
  },
);
logger.close();
// The trainer logs what the first update's buckets did ('allreduce'; none when nothing was bucketed).
const event = readFileSync(logger.path, 'utf8')
  .split('\n')
  .filter((l) => l.includes('"event":"allreduce"'))
  .map((l) => JSON.parse(l) as { buckets: number; overlapped: number })[0];
const buckets = { buckets: event?.buckets ?? 0, overlapped: event?.overlapped ?? 0 };
if (comm.rank === 0) console.log(JSON.stringify({ ranks: comm.size, msPerStep: (last - first) / (a.steps - 1), gradBytes, ...buckets }));
