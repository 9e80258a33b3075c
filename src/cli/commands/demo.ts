// `biofeg demo`: the whole BioFEG schedule on the built-in dataset with a small randomly
// initialised BERT on the CPU, run by the pipeline runner (`biofeg pipeline`'s runPipeline) from
// a config built here: prepare -> evaluate untrained -> train (in-batch negatives) -> evaluate ->
// train-gan -> features for the entities unseen in train -> fine-tune the candidate encoder on
// them -> evaluate (+ top-k candidates) -> hard-negative round (train, generate --hard, fine-tune)
// -> evaluate -> the cross-encoder reranking the final top-k (--cross-epochs 0 leaves it out).
// The config is saved as <output>/pipeline.json, so `biofeg pipeline --config
// <output>/pipeline.json` continues or repeats the same run; stages have DONE.json markers and a
// rerun of the demo skips finished ones. Prints the recall tables (all / seen / unseen) of every
// evaluation and test_seen / test_unseen before and after the GAN fine-tuning.
import { Option, type Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { prepare, runPipeline } from '../../api/calls.js';
import type { ProgressEvent } from '../../api/events.js';
import { builtinData } from '../../paths.js';
import { parsePipelineConfig, pipelineStageNames, type PipelineConfig } from '../../pipeline/config.js';
import type { EvalSummary, PipelineResult } from '../../pipeline/run.js';
import { readDone, writeDone } from '../../train/pipeline-state.js';
import { drawProgress, withSignals } from '../run.js';

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
  /** Cross-encoder stage: epochs (0 leaves it out) and learning rate; it reranks the top hardTopK. */
  crossEpochs: number;
  crossLearningRate: number;
  seed: number;
  device: string;
  threads?: number;
  silent: boolean;
}

export const DEMO_DEFAULTS: DemoOptions = {
  output: 'runs/demo',
  size: 'tiny',
  epochs: 8,
  hardEpochs: 1,
  hardTopK: 8,
  maxLength: 32,
  learningRate: 5e-4,
  batchSize: 32,
  ganEpochs: 3,
  ganLearningRate: 1e-4,
  finetuneEpochs: 1,
  finetuneLearningRate: 5e-5,
  crossEpochs: 2,
  crossLearningRate: 5e-4,
  seed: 52313,
  device: 'cpu',
  silent: false,
};

export interface DemoResult {
  untrained: EvalSummary;
  inBatch: EvalSummary;
  /** After fine-tuning on the GAN's features. */
  gan: EvalSummary;
  /** After the hard-negative round (train --hard, generate --hard, finetune --hard). */
  hard: EvalSummary;
  /** The cross-encoder reranking the final bi-encoder's top hardTopK (absent with crossEpochs 0). */
  cross?: { table: string };
  pipeline: PipelineResult;
  configPath: string;
  seconds: number;
}

/** The pipeline config of the demo: the built-in data prepared in `processed`, small sizes. */
export function demoPipelineConfig(o: DemoOptions, processed: string): PipelineConfig {
  const half = Math.max(1, Math.floor(o.batchSize / 4));
  // Trained from scratch: every layer (embeddings too) and no dropout, or a small random BERT barely moves.
  const scratch = { typeOptimization: 'all', dropout: 0 } as const;
  const device = o.device === 'cpu' || o.device === 'cuda' ? o.device : 'auto';
  return {
    dataPath: processed,
    outputPath: o.output,
    entityDictPath: builtinData.entityDictPath,
    bertModel: o.size,
    device,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    seed: o.seed,
    maxContextLength: o.maxLength,
    maxCandLength: o.maxLength,
    topK: 64,
    hardTopK: o.hardTopK,
    evalUntrained: true,
    biencoder: { ...scratch, learningRate: o.learningRate, numTrainEpochs: o.epochs, trainBatchSize: o.batchSize, evalBatchSize: 64 },
    eval: { encodeBatchSize: 64, evalBatchSize: 64 },
    gan: {
      learningRate: o.ganLearningRate,
      numTrainEpochs: o.ganEpochs,
      saveEvery: o.ganEpochs,
      startSaving: o.ganEpochs,
      trainBatchSize: 64,
      evalBatchSize: 64,
      criticIters: 5,
      typeOptimization: 'all_encoder_layers',
    },
    generate: { evalBatchSize: 64, encodeBatchSize: 64 },
    // The original's fine-tuning lr 1e-9 would not move a small model trained from scratch.
    finetune: {
      ...scratch,
      learningRate: o.finetuneLearningRate,
      numTrainEpochs: o.finetuneEpochs,
      trainBatchSize: o.batchSize,
      evalBatchSize: 64,
    },
    biencoderHard: { ...scratch, learningRate: o.learningRate / 25, numTrainEpochs: o.hardEpochs, trainBatchSize: half, evalBatchSize: 16 },
    // The hard round at 1/25 of the first round's rates, fine-tuning too (at the full rate it undoes the round).
    finetuneHard: {
      ...scratch,
      learningRate: o.finetuneLearningRate / 25,
      numTrainEpochs: o.finetuneEpochs,
      trainBatchSize: half,
      evalBatchSize: 16,
    },
    // The cross-encoder reranks the final bi-encoder's top hardTopK; the shared max_context_length
    // (the bi-encoder's window) puts its segment boundary at the candidate.
    ...(o.crossEpochs > 0
      ? {
          crossencoder: true,
          crossTopK: o.hardTopK,
          cross: { ...scratch, learningRate: o.crossLearningRate, numTrainEpochs: o.crossEpochs, trainBatchSize: 8, evalBatchSize: 32 },
        }
      : {}),
  };
}

const EVALS = { untrained: 'eval-untrained', inBatch: 'eval-biencoder', gan: 'eval-finetune', hard: 'eval-final' } as const;

export async function runDemo(
  o: DemoOptions,
  say: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  signal?: AbortSignal,
): Promise<DemoResult> {
  const t0 = performance.now();
  const draw = drawProgress({ silent: o.silent, say });
  const call = { onProgress: (e: ProgressEvent) => draw(e), ...(signal ? { signal } : {}) };
  const DEFAULT_DATA = builtinData.dir;
  const processed = join(o.output, 'processed');
  // Prepared once: a rerun keeps the files (and so the token caches built from them).
  if (readDone(processed)) say(`prepare: done (${processed}), skipped`);
  else {
    say(`prepare ${DEFAULT_DATA} -> ${processed}`);
    const t = performance.now();
    await prepare({ dataDir: DEFAULT_DATA, outDir: processed }, call);
    writeDone(processed, {
      stage: 'prepare',
      finishedAt: new Date().toISOString(),
      seconds: (performance.now() - t) / 1000,
      result: { dataDir: DEFAULT_DATA },
    });
  }
  const raw = demoPipelineConfig(o, processed);
  const configPath = join(o.output, 'pipeline.json');
  mkdirSync(o.output, { recursive: true });
  writeFileSync(configPath, `${JSON.stringify(raw, null, 2)}\n`);
  const config = parsePipelineConfig(raw, configPath);
  say(
    `pipeline config ${configPath} (biofeg pipeline --config ${configPath} runs the same schedule): ${pipelineStageNames(config).join(' -> ')}`,
  );
  const pipeline = await runPipeline(config, call);

  const result = (stage: string): EvalSummary => {
    const r = pipeline.stages.find((s) => s.stage === stage)?.result as EvalSummary | undefined;
    if (!r?.modes) throw new Error(`demo: the pipeline stage ${stage} reported no recall`);
    return r;
  };
  const ev = { untrained: result(EVALS.untrained), inBatch: result(EVALS.inBatch), gan: result(EVALS.gan), hard: result(EVALS.hard) };
  const crossTable = (pipeline.stages.find((s) => s.stage === 'eval-crossencoder')?.result as { table?: unknown } | undefined)?.table;
  const cross = typeof crossTable === 'string' ? { table: crossTable } : undefined;
  const seconds = (performance.now() - t0) / 1000;
  const at = (r: EvalSummary, m: string, k: number) => {
    const v = r.modes.find((x) => x.mode === m)?.recall[String(k)];
    return typeof v === 'number' ? v.toFixed(4) : '-';
  };
  for (const [name, r] of [
    ['untrained', ev.untrained],
    ['trained (in-batch)', ev.inBatch],
    ['after GAN fine-tuning', ev.gan],
    ['after the hard round', ev.hard],
  ] as const)
    say(`\n${name}:\n${r.table.trimEnd()}`);
  say('\nrecall@64          all     seen    unseen');
  for (const [name, r] of [
    ['untrained', ev.untrained],
    ['in-batch', ev.inBatch],
    ['+ GAN ft', ev.gan],
    ['+ hard', ev.hard],
  ] as const)
    say(`${name.padEnd(12)}  ${at(r, 'test', 64)}  ${at(r, 'test_seen', 64)}  ${at(r, 'test_unseen', 64)}`);
  for (const m of ['test_seen', 'test_unseen'])
    say(
      `GAN fine-tuning, ${m} recall@1 / @64: ${at(ev.inBatch, m, 1)} / ${at(ev.inBatch, m, 64)} -> ${at(ev.gan, m, 1)} / ${at(ev.gan, m, 64)}`,
    );
  if (cross)
    say(
      `\ncross-encoder reranking the final bi-encoder's top ${o.hardTopK} (norm: of the mentions whose gold is among them; unnorm: of all; bi: its first candidate):\n${cross.table.trimEnd()}`,
    );
  const ran = pipeline.stages.filter((s) => !s.skipped).length;
  say(
    `done in ${seconds.toFixed(0)} s on ${o.device} (${ran} of ${pipeline.stages.length} stages run, ${pipeline.stages.length - ran} skipped as finished before); outputs in ${o.output}`,
  );
  if (pipeline.reportPath !== undefined) say(`report: ${pipeline.reportPath} (open it in a browser; it needs no network)`);
  return { ...ev, ...(cross ? { cross } : {}), pipeline, configPath, seconds };
}

export function register(program: Command): void {
  const d = DEMO_DEFAULTS;
  const cmd = program
    .command('demo')
    .description(
      'the whole BioFEG schedule through the pipeline runner (prepare -> train -> evaluate -> train-gan -> generate -> finetune -> evaluate -> hard-negative round -> evaluate -> cross-encoder reranking) on the built-in dataset with a small random BERT (CPU, a few minutes); a rerun skips finished stages',
    )
    .addOption(new Option('--output <dir>', 'output folder').default(d.output))
    .addOption(new Option('--size <size>', 'built-in BERT size').choices(['tiny', 'small', 'base']).default(d.size))
    .addOption(new Option('--epochs <n>', 'in-batch epochs').argParser((v) => Number.parseInt(v, 10)).default(d.epochs))
    .addOption(new Option('--hard-epochs <n>', 'hard-negative epochs').argParser((v) => Number.parseInt(v, 10)).default(d.hardEpochs))
    .addOption(
      new Option('--hard-top-k <k>', 'candidates per mention in the hard round')
        .argParser((v) => Number.parseInt(v, 10))
        .default(d.hardTopK),
    )
    .addOption(
      new Option('--max-length <n>', 'context and candidate length in tokens')
        .argParser((v) => Number.parseInt(v, 10))
        .default(d.maxLength),
    )
    .addOption(new Option('--learning-rate <lr>', 'peak learning rate').argParser(Number.parseFloat).default(d.learningRate))
    .addOption(new Option('--batch-size <n>', 'in-batch training batch size').argParser((v) => Number.parseInt(v, 10)).default(d.batchSize))
    .addOption(new Option('--gan-epochs <n>', 'train-gan epochs').argParser((v) => Number.parseInt(v, 10)).default(d.ganEpochs))
    .addOption(new Option('--gan-learning-rate <lr>', 'train-gan learning rate').argParser(Number.parseFloat).default(d.ganLearningRate))
    .addOption(
      new Option('--finetune-epochs <n>', 'fine-tuning epochs on generated features')
        .argParser((v) => Number.parseInt(v, 10))
        .default(d.finetuneEpochs),
    )
    .addOption(
      new Option('--finetune-learning-rate <lr>', 'fine-tuning learning rate (the original: 1e-9)')
        .argParser(Number.parseFloat)
        .default(d.finetuneLearningRate),
    )
    .addOption(
      new Option('--cross-epochs <n>', 'cross-encoder epochs (0: no cross-encoder)')
        .argParser((v) => Number.parseInt(v, 10))
        .default(d.crossEpochs),
    )
    .addOption(
      new Option('--cross-learning-rate <lr>', 'cross-encoder learning rate').argParser(Number.parseFloat).default(d.crossLearningRate),
    )
    .addOption(new Option('--seed <n>', 'random seed').argParser((v) => Number.parseInt(v, 10)).default(d.seed))
    .addOption(new Option('--device <device>', 'cpu, cuda or auto').choices(['cpu', 'cuda', 'auto']).default(d.device))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option('--silent', 'no progress bars').default(false))
    .action(async () => {
      await withSignals((o) => runDemo(cmd.opts<DemoOptions>(), undefined, o.signal));
    });
}
