// `biofeg demo`: the whole bi-encoder pipeline on the built-in dataset with a small randomly
// initialised BERT on the CPU: prepare -> evaluate untrained -> train (in-batch negatives) ->
// evaluate -> the GAN stage (train-gan, features for the entities unseen in train, fine-tune the
// candidate encoder on them, evaluate) -> save top-k candidates -> one hard-negative round ->
// evaluate. Prints the recall tables (all / seen / unseen) of every stage.
import { Option, type Command } from 'commander';
import { join } from 'node:path';

import { prepare } from '../../data/prepare.js';
import { TokenCache } from '../../data/token-cache.js';
import { readCandidateFile } from '../../eval/candidates.js';
import { evaluateModes, type EvalReport } from '../../eval/evaluate.js';
import { openBiEncoder } from '../../train/biencoder-checkpoint.js';
import type { BiencoderData } from '../../train/biencoder-data.js';
import { finetune, openFeatureData } from '../../train/finetune.js';
import { generateFeatureFile, labelIds, unseenEntities } from '../../train/generate-features.js';
import { exitOnInterrupt } from '../../train/interrupt.js';
import { Gan } from '../../models/gan.js';
import { trainGan } from '../../train/train-gan.js';
import { trainBiencoder, type TrainSettings } from '../../train/train-biencoder.js';
import { openDescriptionEncoder } from './train-gan.js';
import { trainingSession } from '../training-session.js';
import { cacheDirFor, chooseDevice, DEFAULT_DATA, modelTokenizer, openCache, type ModelTokenizer } from '../setup.js';

export interface DemoOptions {
  output: string;
  size: string;
  epochs: number;
  hardEpochs: number;
  hardTopK: number;
  maxLength: number;
  learningRate: number;
  batchSize: number;
  /** GAN stage: train-gan epochs and learning rate, fine-tuning epochs and learning rate. */
  ganEpochs: number;
  ganLearningRate: number;
  finetuneEpochs: number;
  finetuneLearningRate: number;
  seed: number;
  device: string;
  threads?: number;
  silent: boolean;
}

export const DEMO_DEFAULTS: DemoOptions = {
  output: 'runs/demo', size: 'tiny', epochs: 8, hardEpochs: 1, hardTopK: 8, maxLength: 32,
  learningRate: 5e-4, batchSize: 32, ganEpochs: 3, ganLearningRate: 1e-4, finetuneEpochs: 1, finetuneLearningRate: 5e-5, seed: 52313, device: 'cpu', silent: false,
};

export interface DemoResult {
  untrained: EvalReport;
  inBatch: EvalReport;
  /** After fine-tuning on the GAN's features. */
  gan: EvalReport;
  hard: EvalReport;
  seconds: number;
}

const TEST_MODES = ['test', 'test_seen', 'test_unseen'];

export async function runDemo(o: DemoOptions, say: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<DemoResult> {
  const t0 = performance.now();
  const device = chooseDevice({ device: o.device, ...(o.threads !== undefined ? { threads: o.threads } : {}) });
  const processed = join(o.output, 'processed');
  say(`[1/7] prepare ${DEFAULT_DATA} -> ${processed}`);
  await prepare({ dataDir: DEFAULT_DATA, outDir: processed });
  const tok: ModelTokenizer = modelTokenizer(undefined, undefined);
  // Trained from scratch: every layer (embeddings too) and no dropout, or a small random BERT barely moves.
  const { model, settings } = openBiEncoder({ device, bertModel: o.size, vocabSize: tok.tokenizer.vocabSize, seed: o.seed, dropout: 0 });
  const lens = { maxContextLength: o.maxLength, maxCandLength: o.maxLength };
  const entityDict = join(DEFAULT_DATA, 'documents', 'all_documents.json');
  const evaluate = (name: string, modes: string[], topK: number, saveTopk = false) =>
    evaluateModes({
      model, tokenizer: tok.tokenizer, tokenizerFactory: tok.factory, dataPath: processed, entityDictPath: entityDict,
      outputPath: join(o.output, name), modes, topK, encodeBatchSize: 64, evalBatchSize: 64, ...lens, saveTopk, poolCache: false,
    });

  say(`[2/7] evaluate the untrained ${o.size} bi-encoder (${model.config.hiddenSize} hidden, ${model.config.numLayers} layers)`);
  const untrained = await evaluate('eval-untrained', TEST_MODES, 64);
  say(untrained.table);

  const cacheDir = cacheDirFor(processed, o.output);
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', cacheDir, ...lens });
  const mentions = async (split: string) => openCache(tok, { kind: 'mentions', source: join(processed, `${split}.jsonl`), name: split, cacheDir, ...lens });
  const base: TrainSettings = {
    learningRate: o.learningRate, numTrainEpochs: o.epochs, trainBatchSize: o.batchSize, evalBatchSize: 64,
    gradientAccumulationSteps: 1, warmupProportion: 0.1, maxGradNorm: 1, typeOptimization: 'all', seed: o.seed,
    printInterval: 1_000_000, evalInterval: 1_000_000, shuffle: true,
  };
  const train = async (stage: string, data: { train: BiencoderData; val: BiencoderData }, s: TrainSettings) => {
    const out = join(o.output, stage);
    const hint = `Resume the stage with: biofeg train-biencoder ... --output_path ${out} --resume`;
    const r = await trainingSession(out, { label: stage, silent: o.silent, resumeHint: hint }, (hooks) =>
      trainBiencoder({ model, settings, ...data, outputPath: out, vocabPath: tok.vocabPath, lowercase: tok.lowercase }, s, { ...hooks, say: () => {} }));
    say(`    ${stage}: val in-batch accuracy ${r.accuracies.map((a) => a.toFixed(3)).join(' -> ')}, ${r.examplesPerSecond.toFixed(0)} mentions/s`);
  };

  say(`[3/7] train with in-batch negatives: ${o.epochs} epochs, batch ${o.batchSize}, lr ${o.learningRate}`);
  await train('biencoder', { train: { mentions: await mentions('train'), entities }, val: { mentions: await mentions('val'), entities } }, base);

  say('[4/7] evaluate');
  const inBatch = await evaluate('eval-biencoder', TEST_MODES, 64);
  say(inBatch.table);

  // The GAN stage on the in-memory bi-encoder (frozen while the GAN trains).
  const trainMentions = await mentions('train'), valMentions = await mentions('val');
  say(`[5/7] GAN stage: train-gan ${o.ganEpochs} epochs (lr ${o.ganLearningRate}), features for unseen entities, fine-tune the candidate encoder (lr ${o.finetuneLearningRate}; the original's 1e-9 would not move a small model trained from scratch)`);
  const encoder = openDescriptionEncoder(o.size, { device, vocabSize: tok.tokenizer.vocabSize, seed: o.seed, addLinear: false, outDim: 1 });
  const gan = new Gan(encoder, model.embedDim, device);
  gan.initMlps(o.seed);
  const ganOut = join(o.output, 'gan');
  const g = await trainingSession(ganOut, { label: 'gan', silent: o.silent }, (hooks) =>
    trainGan({ biencoder: model, gan, train: { mentions: trainMentions, entities }, val: { mentions: valMentions, entities }, outputPath: ganOut }, {
      learningRate: o.ganLearningRate, numTrainEpochs: o.ganEpochs, trainBatchSize: 64, evalBatchSize: 64, criticIters: 5, typeOptimization: 'all_encoder_layers',
      seed: o.seed, saveEvery: o.ganEpochs, startSaving: o.ganEpochs, shuffle: true, mseWeight: 0, condGrad: 'original', encodeBatchSize: 64,
    }, { ...hooks, say: () => {} }));
  say(`    gan: val in-batch accuracy of generated features ${g.accuracies.map((a) => a.toFixed(3)).join(' -> ')}`);
  const unseen = unseenEntities(labelIds(trainMentions), entities.rows);
  const gen = await generateFeatureFile({
    biencoder: model, gan, entities, rows: unseen, outputPath: join(o.output, 'generate'), hard: false, topK: 1, batchSize: 64, encodeBatchSize: 64, seed: o.seed,
  });
  say(`    generate: features for the ${gen.header.count} of ${entities.rows} entities no training mention links to -> ${gen.path}`);
  const ftOut = join(o.output, 'finetune');
  const ft = await trainingSession(ftOut, { label: 'finetune', silent: o.silent }, (hooks) =>
    finetune({ model, settings, train: openFeatureData(gen.path, false, entities), val: { mentions: valMentions, entities }, outputPath: ftOut, vocabPath: tok.vocabPath, lowercase: tok.lowercase },
      { ...base, numTrainEpochs: o.finetuneEpochs, learningRate: o.finetuneLearningRate }, { ...hooks, say: () => {} }));
  say(`    finetune: val in-batch accuracy ${ft.accuracies.map((a) => a.toFixed(3)).join(' -> ')}`);
  const ganReport = await evaluate('eval-gan', TEST_MODES, 64);
  say(ganReport.table);

  say(`    save the top-${o.hardTopK} candidates of train and valid for hard negatives`);
  await evaluate('candidates', ['train', 'valid'], o.hardTopK, true);
  const hardData = (split: string): BiencoderData => {
    const file = readCandidateFile(join(o.output, 'candidates', `top${o.hardTopK}_candidates`, `${split}.topk`));
    return { mentions: new TokenCache(file.header.source!['mentionCache']!), entities, hard: file };
  };

  say(`[6/7] train on hard negatives: ${o.hardEpochs} epoch(s), ${o.hardTopK} candidates per mention`);
  await train('biencoder-hard', { train: hardData('train'), val: hardData('val') }, {
    ...base, numTrainEpochs: o.hardEpochs, trainBatchSize: Math.max(1, Math.floor(o.batchSize / 4)), learningRate: o.learningRate / 25,
  });

  say('[7/7] evaluate after the hard-negative round');
  const hard = await evaluate('eval-hard', TEST_MODES, 64);
  say(hard.table);
  const seconds = (performance.now() - t0) / 1000;
  const r1 = (r: EvalReport, m: string) => r.modes.find((x) => x.mode === m)?.recall.recall[1]?.toFixed(4) ?? '-';
  const r64 = (r: EvalReport, m: string) => r.modes.find((x) => x.mode === m)?.recall.recall[64]?.toFixed(4) ?? '-';
  say('recall@64          all     seen    unseen');
  for (const [name, r] of [['untrained', untrained], ['in-batch', inBatch], ['+ GAN ft', ganReport], ['+ hard', hard]] as const)
    say(`${name.padEnd(12)}  ${r64(r, 'test')}  ${r64(r, 'test_seen')}  ${r64(r, 'test_unseen')}`);
  for (const m of ['test_seen', 'test_unseen']) say(`GAN fine-tuning, ${m} recall@1 / @64: ${r1(inBatch, m)} / ${r64(inBatch, m)} -> ${r1(ganReport, m)} / ${r64(ganReport, m)}`);
  say(`done in ${seconds.toFixed(0)} s on ${device}; outputs in ${o.output}`);
  return { untrained, inBatch, gan: ganReport, hard, seconds };
}

export function register(program: Command): void {
  const d = DEMO_DEFAULTS;
  const cmd = program
    .command('demo')
    .description('prepare -> train -> evaluate -> GAN stage (train-gan, generate, finetune) -> evaluate -> hard-negative round -> evaluate on the built-in dataset with a small random BERT (CPU, a few minutes)')
    .addOption(new Option('--output <dir>', 'output folder').default(d.output))
    .addOption(new Option('--size <size>', 'built-in BERT size').choices(['tiny', 'small', 'base']).default(d.size))
    .addOption(new Option('--epochs <n>', 'in-batch epochs').argParser((v) => Number.parseInt(v, 10)).default(d.epochs))
    .addOption(new Option('--hard-epochs <n>', 'hard-negative epochs').argParser((v) => Number.parseInt(v, 10)).default(d.hardEpochs))
    .addOption(new Option('--hard-top-k <k>', 'candidates per mention in the hard round').argParser((v) => Number.parseInt(v, 10)).default(d.hardTopK))
    .addOption(new Option('--max-length <n>', 'context and candidate length in tokens').argParser((v) => Number.parseInt(v, 10)).default(d.maxLength))
    .addOption(new Option('--learning-rate <lr>', 'peak learning rate').argParser(Number.parseFloat).default(d.learningRate))
    .addOption(new Option('--batch-size <n>', 'in-batch training batch size').argParser((v) => Number.parseInt(v, 10)).default(d.batchSize))
    .addOption(new Option('--gan-epochs <n>', 'train-gan epochs').argParser((v) => Number.parseInt(v, 10)).default(d.ganEpochs))
    .addOption(new Option('--gan-learning-rate <lr>', 'train-gan learning rate').argParser(Number.parseFloat).default(d.ganLearningRate))
    .addOption(new Option('--finetune-epochs <n>', 'fine-tuning epochs on generated features').argParser((v) => Number.parseInt(v, 10)).default(d.finetuneEpochs))
    .addOption(new Option('--finetune-learning-rate <lr>', 'fine-tuning learning rate (the original: 1e-9)').argParser(Number.parseFloat).default(d.finetuneLearningRate))
    .addOption(new Option('--seed <n>', 'random seed').argParser((v) => Number.parseInt(v, 10)).default(d.seed))
    .addOption(new Option('--device <device>', 'cpu, cuda or auto').choices(['cpu', 'cuda', 'auto']).default(d.device))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option('--silent', 'no progress bars').default(false))
    .action(async () => {
      try {
        await runDemo(cmd.opts<DemoOptions>());
      } catch (e) {
        exitOnInterrupt(e);
      }
    });
}
