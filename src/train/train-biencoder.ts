// The bi-encoder training loop (train_biencoder.py / train_biencoder_hard.py semantics; see
// README.md here): schedule, accumulation, clipping, in-batch validation before training and
// after each epoch, epoch_N checkpoints, the best copied to the output root, resume, and a
// checkpoint-then-exit on SIGINT/SIGTERM. The same loop fine-tunes on generated features
// (finetune.py / finetune_hard.py): the training data is then a feature file, the context side
// is the given features and only the candidate encoder is in the optimiser.
import { join } from 'node:path';

import { Communicator } from '../comm/communicator.js';
import { broadcastParameters, globalMeanLoss, logRanks, openDeviceComm, shardOf } from '../comm/data-parallel.js';
import { GradientSync, type BackwardRunner } from '../comm/grad-overlap.js';
import { SettingsError } from '../errors.js';
import { AccuracyMeter } from '../eval/in-batch-accuracy.js';
import type { DistNegatives } from '../settings/types.js';
import type { BiEncoder } from '../models/biencoder.js';
import { Workspace } from '../models/workspace.js';
import { hardStep, inBatchStep, type ContextInput, type StepResult } from './biencoder-step.js';
import { readCheckpointFile } from '../checkpoint/index.js';
import { loadStateDict, saveBiEncoder, type ModelSettings } from './biencoder-checkpoint.js';
import {
  epochOrder,
  exampleCount,
  readBatch,
  readTrainBatch,
  type Batch,
  type BiencoderData,
  type FeatureBatch,
  type TrainData,
} from './biencoder-data.js';
import { BestEpoch, copyModelToRoot, epochDirName } from './checkpoint-dir.js';
import { resumeEpochTrainer, type EpochTrainerState } from './epoch-resume.js';
import { checkFiniteLoss } from './guard.js';
import { globalInBatchStep } from './global-negatives.js';
import { runEpochs } from './loop.js';
import type { TrainHooks } from './hooks.js';
import { FlatAdamW } from './optimizer.js';
import { agreedStop, failTogether } from './rank-guards.js';
import { parseTypeOptimization, trainablePatterns } from './param-groups.js';
import { isIntervalStep, isUpdateStep, learningRateAt, planSchedule } from './schedule.js';
import { TrainMetrics } from './step-metrics.js';

export interface TrainSettings {
  learningRate: number;
  numTrainEpochs: number;
  trainBatchSize: number;
  evalBatchSize: number;
  gradientAccumulationSteps: number;
  warmupProportion: number;
  maxGradNorm: number;
  typeOptimization: string;
  seed: number;
  printInterval: number;
  evalInterval: number;
  shuffle: boolean;
}

export interface TrainRun {
  model: BiEncoder;
  settings: ModelSettings;
  /** Mentions (tokens) or, for fine-tuning, generated features. */
  train: TrainData;
  /** Always mentions: validation runs the full bi-encoder. */
  val: BiencoderData;
  /**
   * Which encoders the optimiser holds: 'both' (default) or 'candidate' (fine-tuning: the context
   * encoder gets no gradient, and AdamW skips gradient-less parameters, so no decay either).
   */
  trainEncoders?: 'both' | 'candidate';
  outputPath: string;
  vocabPath?: string;
  lowercase?: boolean;
  /** Continue from <output>/last (or the newest epoch_N) when present. */
  resume?: boolean;
  /**
   * Data-parallel training over these ranks (default: a single process). Each rank takes its
   * shard of every global batch (trainBatchSize / gradientAccumulationSteps rows), the gradients
   * are summed over the ranks before every update, and every rank takes the same update; rank 0
   * alone writes checkpoints.
   */
  comm?: Communicator;
  /**
   * In-batch negatives of a multi-rank run: 'local' (default; each rank's own shard, as DDP) or
   * 'global' (the all-gathered batch: the same loss as one process on the whole batch).
   */
  distNegatives?: DistNegatives;
  /** Gradient all-reduce bucket size of a multi-rank run in MiB, sent during the backward (default 25; 0: after it). */
  bucketCapMb?: number;
}

export interface TrainResult {
  /** In-batch accuracy on val before training, then after each epoch. */
  accuracies: number[];
  bestEpoch: number;
  steps: number;
  examplesPerSecond: number;
}

async function step(
  model: BiEncoder,
  ws: Workspace,
  b: Batch | FeatureBatch,
  train: boolean,
  seed: bigint,
  lossScale: number,
  reduce?: BackwardRunner,
): Promise<StepResult> {
  const o = { train, seed, lossScale, reduce };
  let ctx: ContextInput;
  if ('features' in b) {
    if (b.dim !== model.embedDim) throw new Error(`features have size ${b.dim}, the bi-encoder's embeddings ${model.embedDim}`);
    const rows = b.features.length / b.dim;
    const t = ws.get('features', 'f32', [rows, b.dim]);
    t.upload(b.features);
    ctx = { features: t };
  } else ctx = { tokens: b.ctx };
  return b.k !== undefined ? hardStep(model, ws, ctx, b.cand, b.k, b.gold!, o) : inBatchStep(model, ws, ctx, b.cand, o);
}

/** A rank's in-batch step against the all-gathered global batch (its rows may be none). */
async function globalStep(
  comm: Communicator,
  model: BiEncoder,
  ws: Workspace,
  b: Batch | FeatureBatch | undefined,
  rows: number,
  seed: bigint,
  lossScale: number,
  reduce: BackwardRunner | undefined,
) {
  const o = { train: true, seed, lossScale, reduce };
  if (!b) return globalInBatchStep(comm, model, ws, undefined, undefined, rows, o);
  let ctx: ContextInput;
  if ('features' in b) {
    const t = ws.get('features', 'f32', [b.features.length / b.dim, b.dim]);
    t.upload(b.features);
    ctx = { features: t };
  } else ctx = { tokens: b.ctx };
  return globalInBatchStep(comm, model, ws, ctx, b.cand, rows, o);
}

/**
 * In-batch accuracy of the model on `data` (the original's evaluate()). With several ranks, batch
 * k is scored by rank k mod size and the counts are summed: the same batches, the same accuracy.
 */
export async function validate(model: BiEncoder, data: BiencoderData, batchSize: number, comm?: Communicator): Promise<number> {
  const ws = new Workspace(model.device);
  const meter = new AccuracyMeter();
  const n = exampleCount(data);
  const size = comm?.size ?? 1,
    rank = comm?.rank ?? 0;
  for (let s = 0, k = 0; s < n; s += batchSize, k++) {
    if (k % size !== rank) continue;
    const idx = Int32Array.from({ length: Math.min(batchSize, n - s) }, (_, i) => s + i);
    const b = readBatch(data, idx);
    const r = await step(model, ws, b, false, 0n, 1);
    meter.addBatch(r.scores, r.rows, r.cols, b.gold ?? null);
  }
  ws.dispose();
  if (size === 1) return meter.accuracy;
  const counts = new Float64Array([meter.correct, meter.examples]);
  comm!.allreduceSum(counts);
  return counts[1] === 0 ? 0 : counts[0]! / counts[1]!;
}

export async function trainBiencoder(run: TrainRun, s: TrainSettings, hooks: TrainHooks): Promise<TrainResult> {
  const comm = run.comm ?? Communicator.single();
  return failTogether(comm, () => trainOnRanks(run, comm, s, hooks));
}

async function trainOnRanks(run: TrainRun, comm: Communicator, s: TrainSettings, hooks: TrainHooks): Promise<TrainResult> {
  const { model } = run;
  const lead = comm.rank === 0;
  const say = lead ? (hooks.say ?? (() => {})) : () => {};
  const global = run.distNegatives === 'global' && comm.size > 1;
  if (run.distNegatives !== undefined && run.distNegatives !== 'local' && run.distNegatives !== 'global')
    throw new SettingsError('distNegatives', `distNegatives must be 'local' or 'global', got '${String(run.distNegatives)}'`);
  if (global && ('features' in run.train ? run.train.hard : run.train.hard !== undefined))
    throw new SettingsError(
      'distNegatives',
      "distNegatives 'global' is for in-batch negatives; hard negatives score each mention's own candidates",
    );
  const n = exampleCount(run.train);
  const plan = planSchedule({
    numExamples: n,
    trainBatchSize: s.trainBatchSize,
    gradientAccumulationSteps: s.gradientAccumulationSteps,
    numTrainEpochs: s.numTrainEpochs,
    warmupProportion: s.warmupProportion,
  });
  const type = parseTypeOptimization(s.typeOptimization);
  const parts = run.trainEncoders === 'candidate' ? model.candidate.parts() : model.parts();
  const opt = new FlatAdamW(model.device, parts, { patterns: trainablePatterns(type, model.config.numLayers) });
  const ws = new Workspace(model.device);
  const loadWeights = (dir: string) => {
    const weights = join(dir, 'model.safetensors');
    loadStateDict(model, readCheckpointFile(weights), weights);
  };
  const shape = { epochs: s.numTrainEpochs, stepsPerEpoch: plan.microBatchesPerEpoch };
  const resumed = run.resume
    ? resumeEpochTrainer(run.outputPath, opt, shape, loadWeights, lead ? hooks : { ...hooks, say: undefined })
    : undefined;
  const st: EpochTrainerState = resumed ?? { epoch: 0, microStep: 0, updates: 0, accuracies: [], best: { epoch: -1, score: -1 } };
  // Every rank starts from rank 0's weights (resumed ranks read the same files anyway).
  broadcastParameters(comm, model.parts());
  const deviceComm = openDeviceComm(comm, model.device, say);
  const sync = new GradientSync(comm, parts, deviceComm, run.bucketCapMb);
  logRanks(hooks.log, comm, deviceComm, { negatives: global ? 'global' : 'local', allreduce: sync.description });
  if (!resumed) {
    hooks.log.log('plan', { examples: n, ...plan, frozen: opt.frozenNames.length, trainable: opt.trainableElements });
    const acc = await validate(model, run.val, s.evalBatchSize, comm);
    st.accuracies.push(acc);
    say(`Eval: accuracy before training ${acc.toFixed(4)}`);
    hooks.log.log('eval', { epoch: -1, accuracy: acc });
  }
  const best = Object.assign(new BestEpoch(), st.best);
  // Rank 0 writes; the others hold the same weights and state.
  const save = async (dir: string, state: EpochTrainerState) => {
    if (lead) await saveTo(dir, state);
  };
  const saveTo = (dir: string, state: EpochTrainerState) =>
    saveBiEncoder(dir, model, {
      settings: run.settings,
      // The validation windows are the training windows (both come from the same settings).
      inference: { maxContextLength: run.val.mentions.header.maxContextLength, maxCandLength: run.val.entities.header.maxCandLength },
      vocabPath: run.vocabPath,
      lowercase: run.lowercase,
      optimizer: opt,
      trainerState: { ...state },
    });

  const t0 = performance.now();
  let seen = 0;
  const micro = plan.microBatchSize;
  let order: Int32Array = new Int32Array(0);
  const metrics = new TrainMetrics(plan.optimizerStepsPerEpoch);
  const stop = agreedStop(comm, hooks.interrupt);
  await runEpochs<EpochTrainerState>({
    outputPath: run.outputPath,
    epochs: s.numTrainEpochs,
    stepsPerEpoch: plan.microBatchesPerEpoch,
    start: { epoch: st.epoch, step: st.microStep },
    hooks: { ...hooks, interrupt: stop.source, progress: lead ? hooks.progress : undefined },
    beginEpoch: (epoch, first) => {
      order = epochOrder(n, s.seed, epoch, s.shuffle);
      metrics.beginEpoch();
      if (first === 0) model.zeroGrad();
    },
    step: async (epoch, ms) => {
      const idx = order.subarray(ms * micro, Math.min(n, (ms + 1) * micro));
      // This rank's rows of the global micro-batch, its loss weighted by its share of the rows.
      const { lo, hi } = shardOf(idx.length, comm.rank, comm.size);
      const b = hi > lo ? readTrainBatch(run.train, idx.subarray(lo, hi)) : undefined;
      const seed = BigInt(s.seed) * 1_000_003n + BigInt(epoch) * 1_000_000_007n + BigInt(ms);
      const lossScale = (hi - lo) / idx.length / s.gradientAccumulationSteps;
      // An update step's backward starts the gradient all-reduce (accumulating steps only add up).
      const reduce = sync.step(isUpdateStep(ms, s.gradientAccumulationSteps));
      let local = 0;
      if (global) local = (await globalStep(comm, model, ws, b, idx.length, seed, lossScale, reduce)).loss;
      else if (b) local = (await step(model, ws, b, true, seed, lossScale, reduce)).loss;
      reduce?.backwardDone();
      const loss = globalMeanLoss(comm, local, hi - lo);
      checkFiniteLoss(loss, st.updates, { what: 'bi-encoder loss', context: `epoch ${epoch}, micro-batch ${ms}` });
      seen += idx.length;
      metrics.add(loss, idx.length);
      stop.update();
      if (!reduce) return;
      sync.finish(reduce, hooks.log);
      const norm = opt.clipGradNorm(s.maxGradNorm);
      const lr = learningRateAt(st.updates, s.learningRate, plan);
      opt.update(lr);
      model.zeroGrad();
      st.updates++;
      const at = { epoch, step: ms, updates: st.updates, lr, gradNorm: norm };
      metrics.updated(lead ? hooks : { ...hooks, say: undefined }, at, isIntervalStep(ms, s.printInterval, s.gradientAccumulationSteps));
      if (isIntervalStep(ms, s.evalInterval, s.gradientAccumulationSteps)) {
        const acc = await validate(model, run.val, s.evalBatchSize, comm);
        hooks.log.log('eval', { epoch, step: ms, accuracy: acc });
      }
    },
    stateAt: (epoch, microStep) => ({ ...st, epoch, microStep, best: { epoch: best.epoch, score: best.score } }),
    save,
    endEpoch: async (epoch) => {
      const acc = await validate(model, run.val, s.evalBatchSize, comm);
      st.accuracies.push(acc);
      const isBest = best.update(epoch, acc);
      st.epoch = epoch + 1;
      st.microStep = 0;
      const state = { ...st, best: { epoch: best.epoch, score: best.score } };
      await save(join(run.outputPath, epochDirName(epoch)), state);
      say(`Eval: epoch ${epoch} accuracy ${acc.toFixed(4)}${isBest ? ' (best)' : ''}`);
      hooks.log.log('epoch', { epoch, accuracy: acc, best: best.epoch, updates: st.updates });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (best.epoch >= 0 && lead) {
    copyModelToRoot(join(run.outputPath, epochDirName(best.epoch)), run.outputPath);
    say(`Best epoch ${best.epoch} (accuracy ${best.score.toFixed(4)}) copied to ${run.outputPath}`);
  }
  ws.dispose();
  opt.dispose();
  deviceComm?.dispose();
  comm.barrier(); // every rank returns once rank 0's output is complete
  return { accuracies: st.accuracies, bestEpoch: best.epoch, steps: st.updates, examplesPerSecond: seconds > 0 ? seen / seconds : 0 };
}

export { readEpochTrainerState as readTrainerState } from './epoch-resume.js';
