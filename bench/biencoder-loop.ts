// npm run bench:loop [-- --size tiny --batch 32 --steps 40 --threads N]
// The whole bi-encoder training loop (token-cache reads, batching, step, clipping, AdamW, progress)
// against the bare step on the same batches held in memory: the loop's overhead per step.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { builtinData } from '../src/paths.js';
import { modelTokenizer, openCache } from '../src/stages/setup.js';
const DEFAULT_DATA = builtinData.dir,
  DEFAULT_VOCAB = builtinData.vocabPath;
import { prepare } from '../src/data/prepare.js';
import { Workspace } from '../src/models/workspace.js';
import { setThreads } from '../src/native.js';
import { openBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { inBatchStep } from '../src/train/biencoder-step.js';
import { epochOrder, readBatch } from '../src/train/biencoder-data.js';
import { JsonlLogger } from '../src/train/jsonl-log.js';
import { FlatAdamW } from '../src/train/optimizer.js';
import { trainablePatterns } from '../src/train/param-groups.js';
import { trainBiencoder } from '../src/train/train-biencoder.js';
import { flagValue, machine, table, writeResult } from './common.js';

const size = flagValue('size', 'tiny');
const batch = Number(flagValue('batch', '32'));
const steps = Number(flagValue('steps', '40'));
const len = Number(flagValue('length', '64'));
const threads = setThreads(Number(flagValue('threads', '0')));
const seed = 52313;

const dir = mkdtempSync(join(tmpdir(), 'biofeg-loop-'));
try {
  await prepare({ dataDir: DEFAULT_DATA, outDir: join(dir, 'processed') });
  const tok = modelTokenizer(undefined, DEFAULT_VOCAB);
  const lens = { maxContextLength: len, maxCandLength: len, cacheDir: join(dir, 'cache') };
  const entities = await openCache(tok, {
    kind: 'entities',
    source: join(DEFAULT_DATA, 'documents', 'all_documents.json'),
    name: 'entities',
    ...lens,
  });
  const mentions = await openCache(tok, { kind: 'mentions', source: join(dir, 'processed', 'train.jsonl'), name: 'train', ...lens });
  const val = await openCache(tok, { kind: 'mentions', source: join(dir, 'processed', 'val.jsonl'), name: 'val', ...lens });
  const data = { mentions, entities };
  const n = steps * batch; // the loop runs over exactly `steps` batches
  const sub = {
    ...data,
    mentions: Object.assign(Object.create(Object.getPrototypeOf(mentions)) as typeof mentions, mentions, {
      header: { ...mentions.header, rows: n },
    }),
  };
  const open = () => openBiEncoder({ device: 'cpu', bertModel: size, vocabSize: tok.tokenizer.vocabSize, seed, dropout: 0.1 });

  // Bare: the same batches, read beforehand, through step + clip + update.
  const order = epochOrder(n, seed, 0, true);
  const batches = Array.from({ length: steps }, (_, s) => readBatch(data, order.subarray(s * batch, (s + 1) * batch)));
  const { model: bare } = open();
  const opt = new FlatAdamW('cpu', bare.parts(), { patterns: trainablePatterns('all_encoder_layers', bare.config.numLayers) });
  const ws = new Workspace('cpu');
  const stepOnce = async (s: number) => {
    const b = batches[s]!;
    bare.zeroGrad();
    await inBatchStep(bare, ws, { tokens: b.ctx }, b.cand, { train: true, seed: BigInt(s) });
    opt.clipGradNorm(1);
    opt.update(1e-5);
  };
  await stepOnce(0); // warm-up: plans and scratch
  const t = performance.now();
  for (let s = 1; s < steps; s++) await stepOnce(s);
  const bareMs = (performance.now() - t) / (steps - 1);

  // Loop: trainBiencoder over the same `steps` batches; timed between the first and last step.
  const { model, settings } = open();
  let first = 0,
    last = 0;
  await trainBiencoder(
    { model, settings, train: sub, val: { mentions: val, entities }, outputPath: join(dir, 'run') },
    {
      learningRate: 1e-5,
      numTrainEpochs: 1,
      trainBatchSize: batch,
      evalBatchSize: 64,
      gradientAccumulationSteps: 1,
      warmupProportion: 0.1,
      maxGradNorm: 1,
      typeOptimization: 'all_encoder_layers',
      seed,
      printInterval: 10,
      evalInterval: 1_000_000,
      shuffle: true,
    },
    {
      log: new JsonlLogger(join(dir, 'run')),
      progress: (_e, done) => {
        if (done === 1) first = performance.now();
        if (done === steps) last = performance.now();
      },
    },
  );
  const loopMs = (last - first) / (steps - 1);
  const overhead = loopMs / bareMs - 1;
  const m = machine();
  console.log(
    `machine: ${m.cpu} (${m.cores} cores), threads ${threads}; ${size} BERT, batch ${batch}, context/candidate length ${len}, ${steps} steps`,
  );
  console.log(
    table([{ 'bare step ms': bareMs, 'loop step ms': loopMs, 'overhead %': overhead * 100, 'loop mentions/s': (batch * 1000) / loopMs }]),
  );
  const file = writeResult('biencoder-loop-cpu.json', {
    machine: m,
    settings: { size, batch, steps, len, threads },
    bareMs,
    loopMs,
    overhead,
  });
  console.log(`wrote ${file}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
