// The cross-encoder training loop (BioFEG's blink/crossencoder/train_cross.py): the original's
// optimiser and schedule (BLINK AdamW, type_optimization, linear warm-up, clipping, gradient
// accumulation), normalized accuracy on val before training and after each epoch, epoch_N
// checkpoints, the best copied to the output root, resume, checkpoint-then-exit on a stop, the NaN
// guard. Evaluation (scoreSource) is the original's evaluate(): argmax of each mention's k scores
// against the gold's position, over mentions whose gold is among the candidates.
import { join } from 'node:path';

import { readCheckpointFile } from '../checkpoint/index.js';
import { Communicator } from '../comm/communicator.js';
import { broadcastParameters, globalMeanLoss, logRanks, openDeviceComm, shardOf } from '../comm/data-parallel.js';
import { GradientSync } from '../comm/grad-overlap.js';
import { pairInputs } from '../data/cross-inputs.js';
import type { CrossEncoder } from '../models/crossencoder.js';
import { Workspace } from '../models/workspace.js';
import { BestEpoch, copyModelToRoot, epochDirName } from './checkpoint-dir.js';
import { loadCrossStateDict, saveCrossEncoder, type CrossWindows } from './cross-checkpoint.js';
import type { CrossSource } from './cross-data.js';
import { crossStep } from './cross-step.js';
import { epochOrder } from './biencoder-data.js';
import { resumeEpochTrainer, type EpochTrainerState } from './epoch-resume.js';
import { checkFiniteLoss } from './guard.js';
import type { TrainHooks } from './hooks.js';
import { runEpochs } from './loop.js';
import { FlatAdamW } from './optimizer.js';
import { parseTypeOptimization, trainablePatterns } from './param-groups.js';
import { agreedStop, failTogether } from './rank-guards.js';
import { isIntervalStep, isUpdateStep, learningRateAt, planSchedule } from './schedule.js';
import { TrainMetrics } from './step-metrics.js';
import type { TrainSettings } from './train-biencoder.js';

/** How pairs are built and batched. */
export interface PairSettings {
  /** Where segment ids start (the cross-encoder's max_context_length; 0: none). */
  maxContextLength: number;
  maxSeqLength: number;
  /** Pairs per BERT call (the k candidates of a mention go through in chunks beyond it). */
  maxPairsPerBatch?: number | undefined;
}

export interface CrossScore {
  /** Mentions scored (gold among the candidates). */
  mentions: number;
  /** Mentions whose top-scored candidate is the gold. */
  hits: number;
  /** Mentions whose gold is the bi-encoder's first candidate. */
  biencoderHits: number;
  /** hits / mentions (the original's normalized accuracy); null without mentions. */
  normalizedAccuracy: number | null;
  /** The top-scored candidate's position per mention. */
  predictions: Int32Array;
}

function batchOf(src: CrossSource, rows: ArrayLike<number>, p: PairSettings) {
  const { contexts, candidates } = src.read(rows);
  const pairs = pairInputs(contexts, src.ctxLen, candidates, src.candLen, rows.length, src.k, {
    maxSeqLength: p.maxSeqLength,
    maxContextLength: p.maxContextLength,
  });
  const labels = Int32Array.from({ length: rows.length }, (_, b) => src.labels[rows[b]!]!);
  return { pairs, labels };
}

/**
 * Scores every mention of `src` (no dropout) and counts the hits; `tick` after each batch. With
 * `part`, only batches k with k mod part.of = part.index (a rank's share of a sharded validation:
 * its hits, predictions of the other batches left 0).
 */
export async function scoreSource(
  model: CrossEncoder,
  src: CrossSource,
  p: PairSettings & { batchSize: number },
  tick?: (done: number) => void,
  part: { index: number; of: number } = { index: 0, of: 1 },
): Promise<CrossScore> {
  const ws = new Workspace(model.device);
  const predictions = new Int32Array(src.count);
  let hits = 0,
    bi = 0;
  try {
    for (let s = 0, k = 0; s < src.count; s += p.batchSize, k++) {
      if (k % part.of !== part.index) continue;
      const rows = Int32Array.from({ length: Math.min(p.batchSize, src.count - s) }, (_, i) => s + i);
      const { pairs, labels } = batchOf(src, rows, p);
      const r = await crossStep(model, ws, pairs, src.k, labels, {
        dropout: false,
        grad: false,
        seed: 0n,
        ...(p.maxPairsPerBatch !== undefined ? { maxPairs: p.maxPairsPerBatch } : {}),
      });
      for (let b = 0; b < rows.length; b++) {
        // np.argmax: the first of equal maxima.
        let best = 0;
        for (let j = 1; j < src.k; j++) if (r.scores[b * src.k + j]! > r.scores[b * src.k + best]!) best = j;
        predictions[s + b] = best;
        if (best === labels[b]) hits++;
        if (labels[b] === 0) bi++;
      }
      tick?.(rows.length);
    }
  } finally {
    ws.dispose();
  }
  return {
    mentions: src.count,
    hits,
    biencoderHits: bi,
    normalizedAccuracy: src.count > 0 ? hits / src.count : null,
    predictions,
  };
}

export interface CrossTrainRun {
  model: CrossEncoder;
  train: CrossSource;
  val: CrossSource;
  pairs: PairSettings;
  outputPath: string;
  vocabPath?: string | undefined;
  lowercase?: boolean | undefined;
  resume?: boolean;
  /**
   * Data-parallel training over these ranks (default: a single process): each rank takes its
   * shard of every global batch's mentions, its loss weighted by its share; the gradients are
   * summed over the ranks before clipping; rank 0 alone writes checkpoints.
   */
  comm?: Communicator;
  /** Gradient all-reduce bucket size in MiB, sent during the backward (default 25; 0: after it). */
  bucketCapMb?: number;
}

export interface CrossTrainResult {
  /** Normalized accuracy on val before training, then after each epoch; null without val mentions. */
  accuracies: (number | null)[];
  bestEpoch: number;
  steps: number;
  mentionsPerSecond: number;
}

export { readEpochTrainerState as readCrossTrainerState } from './epoch-resume.js';

export async function trainCrossEncoder(run: CrossTrainRun, s: TrainSettings, hooks: TrainHooks): Promise<CrossTrainResult> {
  const comm = run.comm ?? Communicator.single();
  return failTogether(comm, () => trainOnRanks(run, comm, s, hooks));
}

async function trainOnRanks(run: CrossTrainRun, comm: Communicator, s: TrainSettings, hooks: TrainHooks): Promise<CrossTrainResult> {
  const { model, pairs } = run;
  const lead = comm.rank === 0;
  const say = lead ? (hooks.say ?? (() => {})) : () => {};
  const quiet = lead ? hooks : { ...hooks, say: undefined };
  const n = run.train.count;
  const k = run.train.k;
  const plan = planSchedule({
    numExamples: n,
    trainBatchSize: s.trainBatchSize,
    gradientAccumulationSteps: s.gradientAccumulationSteps,
    numTrainEpochs: s.numTrainEpochs,
    warmupProportion: s.warmupProportion,
  });
  const type = parseTypeOptimization(s.typeOptimization);
  const parts = model.parts();
  const opt = new FlatAdamW(model.device, parts, { patterns: trainablePatterns(type, model.config.numLayers) });
  const ws = new Workspace(model.device);
  // null without val mentions (gold among the candidates): logged and charted as no value, not as a
  // score. Sharded over the ranks (val batch k on rank k mod N, hits summed): every rank gets the
  // single process's accuracy.
  const validate = async (): Promise<number | null> => {
    const r = await scoreSource(model, run.val, { ...pairs, batchSize: s.evalBatchSize }, undefined, { index: comm.rank, of: comm.size });
    if (comm.size === 1) return r.normalizedAccuracy;
    const hits = new Float64Array([r.hits]);
    comm.allreduceSum(hits);
    return run.val.count > 0 ? hits[0]! / run.val.count : null;
  };
  const fmt = (acc: number | null): string => (acc === null ? 'none (no validation mention)' : acc.toFixed(4));
  const loadWeights = (dir: string) => {
    const weights = join(dir, 'model.safetensors');
    loadCrossStateDict(model, readCheckpointFile(weights), weights);
  };
  const shape = { epochs: s.numTrainEpochs, stepsPerEpoch: plan.microBatchesPerEpoch };
  const resumed = run.resume ? resumeEpochTrainer(run.outputPath, opt, shape, loadWeights, quiet, true) : undefined;
  const st: EpochTrainerState<number | null> = resumed ?? {
    epoch: 0,
    microStep: 0,
    updates: 0,
    accuracies: [],
    best: { epoch: -1, score: -1 },
  };
  // Every rank starts from rank 0's weights (resumed ranks read the same files anyway).
  broadcastParameters(comm, model.parts());
  const deviceComm = openDeviceComm(comm, model.device, say);
  const sync = new GradientSync(comm, parts, deviceComm, run.bucketCapMb);
  logRanks(hooks.log, comm, deviceComm, { allreduce: sync.description });
  if (!resumed) {
    hooks.log.log('plan', { mentions: n, k, ...plan, frozen: opt.frozenNames.length, trainable: opt.trainableElements });
    const acc = await validate();
    st.accuracies.push(acc);
    say(`Eval: normalized accuracy before training ${fmt(acc)}`);
    hooks.log.log('eval', { epoch: -1, accuracy: acc });
  }
  const best = Object.assign(new BestEpoch(), st.best);
  const windows: CrossWindows = {
    maxContextLength: pairs.maxContextLength,
    maxCandLength: run.train.candLen,
    maxSeqLength: pairs.maxSeqLength,
  };
  // Rank 0 writes; the others hold the same weights and state.
  const save = async (dir: string, state: EpochTrainerState<number | null>) => {
    if (lead) await saveTo(dir, state);
  };
  const saveTo = (dir: string, state: EpochTrainerState<number | null>) =>
    saveCrossEncoder(dir, model, {
      windows,
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
  await runEpochs<EpochTrainerState<number | null>>({
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
      const rows = order.subarray(ms * micro, Math.min(n, (ms + 1) * micro));
      // This rank's mentions of the global micro-batch, its loss weighted by its share of them.
      const { lo, hi } = shardOf(rows.length, comm.rank, comm.size);
      const seed = BigInt(s.seed) * 1_000_003n + BigInt(epoch) * 1_000_000_007n + BigInt(ms);
      // An update step's backward starts the gradient all-reduce (accumulating steps only add up).
      const reduce = sync.step(isUpdateStep(ms, s.gradientAccumulationSteps));
      let local = 0;
      if (hi > lo) {
        const b = batchOf(run.train, rows.subarray(lo, hi), pairs);
        const r = await crossStep(model, ws, b.pairs, k, b.labels, {
          dropout: true,
          grad: true,
          seed,
          lossScale: (hi - lo) / rows.length / s.gradientAccumulationSteps,
          reduce,
          ...(pairs.maxPairsPerBatch !== undefined ? { maxPairs: pairs.maxPairsPerBatch } : {}),
        });
        local = r.loss;
      }
      reduce?.backwardDone();
      const loss = globalMeanLoss(comm, local, hi - lo);
      checkFiniteLoss(loss, st.updates, { what: 'cross-encoder loss', context: `epoch ${epoch}, micro-batch ${ms}` });
      seen += rows.length;
      // Sequences are pairs (each one BERT sequence); the printed loss is the unscaled mean (the
      // original logs the accumulation-scaled one).
      metrics.add(loss, rows.length * k);
      stop.update();
      if (!reduce) return;
      sync.finish(reduce, hooks.log);
      const norm = opt.clipGradNorm(s.maxGradNorm);
      const lr = learningRateAt(st.updates, s.learningRate, plan);
      opt.update(lr);
      model.zeroGrad();
      st.updates++;
      const at = { epoch, step: ms, updates: st.updates, lr, gradNorm: norm };
      metrics.updated(quiet, at, isIntervalStep(ms, s.printInterval, s.gradientAccumulationSteps));
      // BioFEG's train_cross.py evaluates at eval_interval only from step 50000 of epoch 1 on.
      if (epoch === 0 || (epoch === 1 && ms + 1 < 50000)) return;
      if (isIntervalStep(ms, s.evalInterval, s.gradientAccumulationSteps)) {
        const acc = await validate();
        hooks.log.log('eval', { epoch, step: ms, accuracy: acc });
      }
    },
    stateAt: (epoch, microStep) => ({ ...st, epoch, microStep, best: { epoch: best.epoch, score: best.score } }),
    save,
    endEpoch: async (epoch) => {
      const acc = await validate();
      st.accuracies.push(acc);
      const isBest = acc !== null && best.update(epoch, acc);
      st.epoch = epoch + 1;
      st.microStep = 0;
      await save(join(run.outputPath, epochDirName(epoch)), { ...st, best: { epoch: best.epoch, score: best.score } });
      say(`Eval: epoch ${epoch} normalized accuracy ${fmt(acc)}${isBest ? ' (best)' : ''}`);
      hooks.log.log('epoch', { epoch, accuracy: acc, best: best.epoch, updates: st.updates });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  // No val mention with its gold among the candidates: no accuracy, no best (the original would
  // load epoch_-1); the last epoch stands in.
  const pick = best.epoch >= 0 ? best.epoch : run.val.count === 0 && s.numTrainEpochs > 0 ? s.numTrainEpochs - 1 : -1;
  if (pick >= 0 && lead) {
    copyModelToRoot(join(run.outputPath, epochDirName(pick)), run.outputPath);
    say(
      best.epoch >= 0
        ? `Best epoch ${best.epoch} (normalized accuracy ${best.score.toFixed(4)}) copied to ${run.outputPath}`
        : `No validation mention has its gold among the candidates: the last epoch (${pick}) copied to ${run.outputPath}`,
    );
  }
  ws.dispose();
  opt.dispose();
  deviceComm?.dispose();
  comm.barrier(); // every rank returns once rank 0's output is complete
  return { accuracies: st.accuracies, bestEpoch: best.epoch, steps: st.updates, mentionsPerSecond: seconds > 0 ? seen / seconds : 0 };
}
