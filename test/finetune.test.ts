// `biofeg finetune` on a hand-made feature file (random features for a few entities, as
// generate-features writes them): only the candidate encoder's parameters change, the loss
// falls on a tiny run (in-batch and --hard), resume and the original's default learning rate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { register } from '../src/cli/commands/finetune.js';
import { defaultOf, finetune, type FinetuneSettings } from '../src/index.js';
import { readCheckpointFile } from '../src/checkpoint/index.js';
import { applyMissingGoldRule, writeCandidateFile } from '../src/eval/candidates.js';
import { openBiEncoder, saveBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { generatedFilePath } from '../src/train/generate-features.js';
import { VOCAB, caches, cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';
import { randn } from './support/rng.js';

const VOCAB_SIZE = readFileSync(VOCAB, 'utf8')
  .split('\n')
  .filter((l) => l !== '').length;
let data: Awaited<ReturnType<typeof smallDataset>>;
let biDir: string, genDir: string;
const N = 24,
  K = 4,
  D = 128;

beforeAll(async () => {
  data = await smallDataset({ train: 20, val: 8, test: 4 });
  biDir = tmp('biofeg-ft-bi-');
  const { model, settings } = openBiEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: VOCAB_SIZE, seed: 3, maxPositions: 160 });
  await saveBiEncoder(biDir, model, { settings, vocabPath: VOCAB, lowercase: true });
  const { entities } = await caches(data.processed, data.entities, 'train');
  genDir = tmp('biofeg-ft-gen-');
  const ents = Int32Array.from({ length: N }, (_, i) => 3 + 7 * i);
  const feats = randn(N * D, 9, 0.5).map((v) => Math.max(0, v));
  const source = { entityCache: entities.path };
  writeCandidateFile(
    generatedFilePath(genDir, false),
    'generate',
    1,
    'insert',
    applyMissingGoldRule(ents, 1, ents, 'insert', { mentionRows: ents, features: feats, featureDim: D }),
    { featureDim: D, source },
  );
  // Hard: k candidates per feature, the gold somewhere among them.
  const topk = new Int32Array(N * K);
  for (let i = 0; i < N; i++) for (let j = 0; j < K; j++) topk[i * K + j] = j === i % K ? ents[i]! : (ents[i]! + 1 + j) % entities.rows;
  writeCandidateFile(
    generatedFilePath(genDir, true),
    'generate',
    K,
    'insert',
    applyMissingGoldRule(topk, K, ents, 'insert', { mentionRows: ents, features: feats, featureDim: D }),
    { featureDim: D, source },
  );
}, 120_000);
afterAll(cleanup);

const flags = (o: Partial<FinetuneSettings>): FinetuneSettings => ({
  dataPath: data.processed,
  generateDataPath: genDir,
  outputPath: tmp('biofeg-ft-out-'),
  bertModel: 'tiny',
  pathToModel: biDir,
  learningRate: 1e-3,
  numTrainEpochs: 4,
  trainBatchSize: N,
  evalBatchSize: 4,
  gradientAccumulationSteps: 1,
  warmupProportion: 0,
  maxGradNorm: 1,
  typeOptimization: 'all',
  seed: 5,
  printInterval: 1,
  evalInterval: 1000,
  maxContextLength: 32,
  maxCandLength: 48,
  addLinear: false,
  outDim: 1,
  hard: false,
  shuffle: false,
  device: 'cpu',
  ...o,
});
const runFinetune = (f: FinetuneSettings) => finetune(f);
const losses = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e['event'] === 'train')
    .map((e) => e['loss'] as number);

function changed(out: string): { context: number; candidate: number } {
  const before = readCheckpointFile(join(biDir, 'model.safetensors'));
  const after = readCheckpointFile(join(out, 'epoch_3', 'model.safetensors'));
  const n = { context: 0, candidate: 0 };
  for (const [name, t] of after) {
    const b = before.get(name)!;
    const diff = (t.data as Float32Array).some((v, i) => v !== (b.data as Float32Array)[i]);
    if (diff) n[name.startsWith('context_encoder.') ? 'context' : 'candidate']++;
  }
  return n;
}

describe('biofeg finetune', () => {
  it('in-batch: trains the candidate encoder only, and the loss falls', async () => {
    const f = flags({});
    const r = await runFinetune(f);
    expect(r.accuracies.length).toBe(5);
    const c = changed(f.outputPath);
    expect(c.context).toBe(0);
    expect(c.candidate).toBeGreaterThan(10);
    const l = losses(f.outputPath);
    expect(l.length).toBe(4);
    expect(l[3]!).toBeLessThan(l[0]! - 0.05);
  }, 120_000);

  it('--hard: against the saved candidates, candidate encoder only, loss falls; resume continues the run', async () => {
    const f = flags({ hard: true, trainBatchSize: 8 });
    await runFinetune({ ...f, numTrainEpochs: 2 });
    await runFinetune({ ...f, resume: true });
    const c = changed(f.outputPath);
    expect(c.context).toBe(0);
    expect(c.candidate).toBeGreaterThan(10);
    const l = losses(f.outputPath);
    expect(l.length).toBe(4 * 3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(l.slice(9))).toBeLessThan(mean(l.slice(0, 3)));
    expect(l.every(Number.isFinite)).toBe(true);
    await expect(runFinetune(flags({ hard: true, generateDataPath: generatedFilePath(genDir, false) }))).rejects.toThrow(
      /--hard needs a file written by generate-features --hard/,
    );
  }, 120_000);

  it("keeps the original's learning rate 1e-9 as the default, in the library and in the CLI's help", () => {
    expect(defaultOf('finetune', 'learningRate')).toBe(1e-9);
    const program = new Command();
    register(program);
    const cmd = program.commands.find((c) => c.name() === 'finetune')!;
    expect(cmd.helpInformation()).toMatch(/--learning-rate <lr> +peak learning rate of AdamW \(default: 1e-9\)/);
  });
});
