// The GAN stage (train_gan.py semantics; see README.md "GAN"): the bi-encoder is frozen and its
// mention embeddings of the training split are the real features (computed once, kept on the
// device). Per batch, --critic_iters critic steps (D and E updated by AdamW without bias
// correction) then one generator step (G only). No scheduler, no clipping. In-batch accuracy of
// the generated features against the bi-encoder's candidate embeddings on val before training
// and after each epoch; checkpoints of G, D and E by shouldSaveGanEpoch.
//
// Where we differ from the original, on purpose:
// - E is evaluated once per critic step and its output conditions both D and G; the original
//   evaluates it again (another dropout mask) inside its generate() call. The generator step
//   likewise uses one evaluation where the original has two.
// - With condGrad 'original' (default), E gets what the original gives it: the penalty's
//   gradient, which is exactly zero (gan-step.ts), so its AdamW update reduces to the decoupled
//   weight decay of its trained, decayed tensors; we apply that decay without running E's
//   backward. condGrad 'critic' lets the whole critic loss train E through D's condition input.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Communicator } from '../comm/communicator.js';
import { broadcastParameters, globalMeans, logRanks, openDeviceComm, reduceShareOfGradients, shardOf } from '../comm/data-parallel.js';
import { GradientSync } from '../comm/grad-overlap.js';
import type { NcclCommunicator } from '../comm/nccl.js';
import { SettingsError } from '../errors.js';
import { AccuracyMeter } from '../eval/in-batch-accuracy.js';
import type { BiEncoder, ParamPart, TokenBatch } from '../models/biencoder.js';
import type { Gan } from '../models/gan.js';
import { mulberry32 } from '../models/rng.js';
import { Workspace } from '../models/workspace.js';
import { engineFor, type Engine } from '../engine.js';
import { native, type NativeTensor } from '../native.js';
import { epochOrder, readBatch, type BiencoderData } from './biencoder-data.js';
import { epochDirName, findResume, shouldSaveGanEpoch } from './checkpoint-dir.js';
import { runEpochs } from './loop.js';
import { checkResumeState } from './trainer-state.js';
import {
  biencoderHash,
  checkGanCompatible,
  ganMeta,
  loadGanTrainingState,
  loadGanWeights,
  readGanFile,
  saveGan,
  type GanFile,
  type GanMeta,
} from './gan-checkpoint.js';
import { encodeSplit, gatherRows } from './gan-features.js';
import { criticStep, generatorStep, GP_LAMBDA } from './gan-step.js';
import { checkFiniteLoss, NonFiniteLossError } from './guard.js';
import type { TrainHooks } from './hooks.js';
import { FlatAdamW } from './optimizer.js';
import { agreedStop, failTogether } from './rank-guards.js';
import { buildParamMasks, maskRanges, parseTypeOptimization, trainablePatterns, WEIGHT_DECAY } from './param-groups.js';

export type CondGrad = 'original' | 'critic';

export interface GanTrainSettings {
  learningRate: number;
  numTrainEpochs: number;
  trainBatchSize: number;
  evalBatchSize: number;
  criticIters: number;
  typeOptimization: string;
  seed: number;
  saveEvery: number;
  startSaving: number;
  shuffle: boolean;
  /** Weight of MSE(fake, real) in the generator loss (the original logs it only: 0). */
  mseWeight: number;
  condGrad: CondGrad;
  lambda?: number;
  /** Batch size of the one-off encodings (real features, val candidates). */
  encodeBatchSize?: number;
}

export interface GanRun {
  biencoder: BiEncoder;
  gan: Gan;
  train: BiencoderData;
  val: BiencoderData;
  outputPath: string;
  /** Continue from <output>/last or the newest epoch_N with a trainer state. */
  resume?: boolean;
  /** Recorded in the checkpoint's metadata (e.g. --bert_model). */
  settingsForMeta?: Record<string, unknown>;
  /**
   * Data-parallel training over these ranks (default: a single process): each rank takes its
   * shard of every global batch (noise and α drawn for the whole batch and sliced), the gradients
   * of every critic and generator step are summed over the ranks before the update; rank 0 alone
   * writes checkpoints.
   */
  comm?: Communicator;
  /** The encoder's gradient all-reduce bucket size (condGrad 'critic'; MiB, default 25; 0: after the backward). */
  bucketCapMb?: number;
}

export interface EpochLosses {
  epoch: number;
  disc: number;
  gen: number;
  mse: number;
  accuracy: number;
  /** Mean gradient penalty of the critic steps, lambda included (as in the critic loss); absent in older logs. */
  penalty?: number;
  /** Mean Wasserstein estimate D(real) - D(fake) of the critic steps. */
  wasserstein?: number;
}

export interface GanTrainResult {
  /** Accuracy before training, then after each epoch. */
  accuracies: number[];
  epochs: EpochLosses[];
  saved: string[];
  batchesPerSecond: number;
}

/** Wall time per phase (ms), when a bench asks for it; the device is synchronised at each boundary. */
export interface PhaseTimes {
  encoder: number;
  critic: number;
  generator: number;
}

/** A 32-bit seed from a few integers (for noise, α and dropout streams). */
export function mixSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/** E's AdamW update when its gradient is known to be zero: m and v stay 0, only decoupled weight decay acts. */
class DecayOnly {
  private readonly ranges: Array<{ params: NativeTensor; lo: number; hi: number }> = [];
  constructor(
    readonly parts: readonly ParamPart[],
    patterns: readonly string[] | null,
    private readonly eng: Engine,
  ) {
    for (const p of parts) {
      const layout = p.layout.map((e) => ({ ...e, name: p.prefix + e.name }));
      const m = buildParamMasks(layout, { patterns, totalElements: p.params.shape[0]! });
      const both = m.trainable.map((t, i) => t * m.decay[i]!);
      for (const [lo, hi] of maskRanges(both)) this.ranges.push({ params: p.params, lo, hi });
    }
  }
  update(lr: number): void {
    const f = 1 - lr * WEIGHT_DECAY;
    for (const r of this.ranges) {
      const v = r.params.view(r.lo, [r.hi - r.lo]);
      this.eng.scale(v, v, f);
    }
  }
}

interface TrainerState {
  epoch: number;
  batch: number;
  accuracies: number[];
  epochs: EpochLosses[];
  // penalty and wasserstein: absent in trainer states written before they were logged.
  sums: { disc: number; dCount: number; gen: number; mse: number; gCount: number; penalty?: number; wasserstein?: number };
}

/** One batch's losses: the critic's per critic step, the rest once (penalty and Wasserstein: means over the critic steps). */
export interface StepLosses {
  disc: number[];
  gen: number;
  mse: number;
  penalty: number;
  wasserstein: number;
}

export class GanTrainer {
  readonly ws: Workspace;
  readonly comm: Communicator;
  private readonly dParts: ParamPart[];
  private readonly gParts: ParamPart[];
  /** The encoder's gradients (condGrad 'critic'): sent in buckets during its backward. */
  readonly eSync: GradientSync;
  readonly optD: FlatAdamW;
  readonly optG: FlatAdamW;
  readonly optE?: FlatAdamW;
  private readonly decayE?: DecayOnly;
  real?: NativeTensor;
  valCand?: NativeTensor;

  constructor(
    readonly run: GanRun,
    readonly s: GanTrainSettings,
    /** NCCL for the gradients of a multi-rank CUDA run (else they go through host memory over MPI). */
    private readonly deviceComm?: NcclCommunicator,
  ) {
    const { gan } = run;
    const dev = gan.device;
    if (gan.dims.featDim !== run.biencoder.embedDim)
      throw new Error(
        `train-gan: the GAN's feature size ${gan.dims.featDim} differs from the bi-encoder's embedding size ${run.biencoder.embedDim}`,
      );
    this.ws = new Workspace(dev);
    this.comm = run.comm ?? Communicator.single();
    this.dParts = [gan.discriminator.part('discriminator.')];
    this.gParts = [gan.generator.part('generator.')];
    this.optD = new FlatAdamW(dev, this.dParts, { patterns: null });
    this.optG = new FlatAdamW(dev, this.gParts, { patterns: null });
    const type = parseTypeOptimization(s.typeOptimization);
    const patterns = trainablePatterns(type, gan.encoder.config.numLayers);
    const eParts = gan.encoder.parts();
    this.eSync = new GradientSync(this.comm, eParts, deviceComm, run.bucketCapMb);
    if (s.condGrad === 'critic') this.optE = new FlatAdamW(dev, eParts, { patterns });
    else this.decayE = new DecayOnly(eParts, patterns, engineFor(dev));
    gan.encoder.zeroGrad();
  }

  get optimizers(): Record<string, FlatAdamW> {
    return { discriminator: this.optD, generator: this.optG, ...(this.optE ? { encoder: this.optE } : {}) };
  }

  /** The frozen encodings (once per run). */
  async precompute(onProgress?: (what: string, done: number, total: number) => void): Promise<void> {
    const bs = this.s.encodeBatchSize ?? 64;
    this.real ??= await encodeSplit(this.run.biencoder, this.run.train, 'context', {
      batchSize: bs,
      onProgress: (d, t) => onProgress?.('real features', d, t),
    });
    this.valCand ??= await encodeSplit(this.run.biencoder, this.run.val, 'candidate', {
      batchSize: bs,
      onProgress: (d, t) => onProgress?.('val candidates', d, t),
    });
  }

  /**
   * One global batch: critic_iters critic steps, then one generator step. Returns the global
   * batch's losses. On several ranks, this rank takes its shard of `examples` (every rank calls it).
   */
  async step(examples: ArrayLike<number>, epoch: number, batch: number, times?: PhaseTimes): Promise<StepLosses> {
    const { lo, hi } = shardOf(examples.length, this.comm.rank, this.comm.size);
    const mine = Int32Array.from({ length: hi - lo }, (_, i) => examples[lo + i]!);
    const desc = hi > lo ? readBatch(this.run.train, mine).cand : undefined;
    return this.shardStep(desc, mine, { lo, total: examples.length }, epoch, batch, times);
  }

  /** step() on given description tokens (`examples` index the real features), one process: the bench's entry. */
  async stepOn(desc: TokenBatch, examples: ArrayLike<number>, epoch: number, batch: number, times?: PhaseTimes): Promise<StepLosses> {
    if (this.comm.size > 1) throw new Error('train-gan: stepOn takes a whole batch on one process; use step() on several ranks');
    return this.shardStep(desc, examples, { lo: 0, total: desc.rows }, epoch, batch, times);
  }

  /**
   * This rank's rows [w.lo, w.lo + desc.rows) of a w.total-row batch (none: desc undefined). Each
   * rank's losses are means over its rows; its gradients are scaled by its share of the rows and
   * summed over the ranks, so every rank takes the global batch's update.
   */
  private async shardStep(
    desc: TokenBatch | undefined,
    examples: ArrayLike<number>,
    w: { lo: number; total: number },
    epoch: number,
    batch: number,
    times?: PhaseTimes,
  ): Promise<StepLosses> {
    const { gan } = this.run,
      s = this.s,
      ws = this.ws,
      comm = this.comm,
      eng = engineFor(gan.device);
    if (!this.real) throw new Error('train-gan: precompute() first');
    const B = desc?.rows ?? 0,
      F = gan.dims.featDim,
      share = B / w.total;
    let real: NativeTensor | undefined, fake: NativeTensor | undefined;
    if (desc) {
      real = ws.get('real', 'f32', [B, F]);
      gatherRows(ws, this.real, examples, real);
      fake = ws.get('fake', 'f32', [B, F]);
    }
    const critic = s.condGrad === 'critic';
    let t = times ? now() : 0;
    const lap = (k: keyof PhaseTimes) => {
      if (!times) return;
      native().synchronize();
      const n = now();
      times[k] += n - t;
      t = n;
    };
    const where = `epoch ${epoch}, batch ${batch}`;
    const disc: number[] = [];
    let penalty = 0,
      wasserstein = 0;
    // The global batch's noise stream, this rank's rows of it (the single process's draws).
    if (comm.size > 1) gan.noiseWindow = { lo: w.lo, total: w.total };
    try {
      for (let it = 0; it < s.criticIters; it++) {
        const key = mixSeed(s.seed, epoch, batch, it);
        // α for every row of the global batch, from one stream; this rank's slice.
        const ar = mulberry32(mixSeed(key, 0xa1fa));
        const alpha = Float32Array.from({ length: w.total }, () => ar()).subarray(w.lo, w.lo + B);
        gan.discriminator.mlp.zeroGrad();
        let local = [0, 0, 0];
        let dCond: NativeTensor | undefined;
        if (desc) {
          const cond = await gan.encoder.encode(desc, { train: true, seed: BigInt(key) * 2n + 1n, grad: critic });
          lap('encoder');
          const tg = gan.generateFrom(cond, B, key, 'critic');
          eng.relu(tg.y, fake!);
          lap('generator');
          const r = criticStep(
            gan.discriminator,
            ws,
            { rows: B, real: real!, fake: fake!, cond, alpha },
            { condGrad: critic, lambda: s.lambda ?? GP_LAMBDA },
          );
          local = [r.loss, r.penalty, r.wReal - r.wFake];
          dCond = r.dCond;
        }
        const [loss, pen, wass] = globalMeans(comm, local, B) as [number, number, number];
        checkFiniteLoss(loss, this.optD.steps, { what: 'critic loss', context: `${where}, critic step ${it}` });
        lap('critic');
        if (critic) {
          gan.encoder.zeroGrad();
          const reduce = this.eSync.step(true)!;
          if (dCond) {
            // This rank's loss is the mean over its rows: its share of the global rows scales the
            // gradient (reduceShareOfGradients' scaling, applied before the backward sends buckets).
            if (comm.size > 1) eng.scale(dCond, dCond, share);
            await gan.encoder.backward(dCond, reduce);
          }
          reduce.backwardDone();
          this.eSync.finish(reduce);
          this.optE!.update(s.learningRate);
        } else {
          this.decayE!.update(s.learningRate);
        }
        lap('encoder');
        reduceShareOfGradients(comm, this.dParts, share, this.deviceComm);
        this.optD.update(s.learningRate);
        lap('critic');
        disc.push(loss);
        penalty += pen;
        wasserstein += wass;
      }
      const key = mixSeed(s.seed, epoch, batch, 0x6e6e);
      gan.generator.mlp.zeroGrad();
      let local = [0, 0, 0];
      if (desc) {
        const cond = await gan.encoder.encode(desc, { train: true, seed: BigInt(key) * 2n + 1n, grad: false });
        lap('encoder');
        const g = generatorStep(gan, ws, { rows: B, cond, real: real!, noiseSeed: key }, { mseWeight: s.mseWeight });
        local = [g.loss, g.mse, g.total];
      }
      const [gen, mse, total] = globalMeans(comm, local, B) as [number, number, number];
      checkFiniteLoss(total, this.optG.steps, { what: 'generator loss', context: where });
      checkFiniteLoss(mse, this.optG.steps, { what: 'generated features (MSE to the real ones)', context: where });
      reduceShareOfGradients(comm, this.gParts, share, this.deviceComm);
      this.optG.update(s.learningRate);
      lap('generator');
      return { disc, gen, mse, penalty: penalty / s.criticIters, wasserstein: wasserstein / s.criticIters };
    } finally {
      gan.noiseWindow = undefined;
    }
  }

  /**
   * train_gan.py evaluate: in-batch accuracy of G's raw output (E without dropout) against the
   * bi-encoder's candidate embeddings. On several ranks, batch k is scored by rank k mod size (its
   * noise seed is the batch's) and the counts are summed: the single process's accuracy.
   */
  async validate(): Promise<number> {
    const { gan } = this.run,
      ws = this.ws,
      eng = engineFor(gan.device);
    if (!this.valCand) throw new Error('train-gan: precompute() first');
    const meter = new AccuracyMeter();
    const n = this.run.val.mentions.rows,
      bs = this.s.evalBatchSize,
      F = gan.dims.featDim;
    const comm = this.comm;
    for (let st = 0, k = 0; st < n; st += bs, k++) {
      if (k % comm.size !== comm.rank) continue;
      const idx = Int32Array.from({ length: Math.min(bs, n - st) }, (_, i) => st + i);
      const b = readBatch(this.run.val, idx);
      const gen = await gan.generate(b.cand, { noiseSeed: mixSeed(this.s.seed, 0xe7a1, k), relu: false });
      const cand = ws.get('val.cand', 'f32', [idx.length, F]);
      gatherRows(ws, this.valCand, idx, cand);
      const scores = ws.get('val.scores', 'f32', [idx.length, idx.length]);
      eng.gemm(gen, cand, scores, { transB: true });
      meter.addBatch(scores.download() as Float32Array, idx.length, idx.length);
    }
    if (comm.size === 1) return meter.accuracy;
    const counts = new Float64Array([meter.correct, meter.examples]);
    comm.allreduceSum(counts);
    return counts[1] === 0 ? 0 : counts[0]! / counts[1]!;
  }

  dispose(): void {
    this.ws.dispose();
    this.optD.dispose();
    this.optG.dispose();
    this.optE?.dispose();
    this.real?.dispose();
    this.valCand?.dispose();
  }
}

const now = (): number => performance.now();

/** A GAN checkpoint file to resume from: a file with trainer and optimiser state. */
function resumable(path: string): { position: number; value: GanFile } | undefined {
  if (!statSync(path).isFile()) return undefined;
  const file = readGanFile(path);
  const st = file.trainerState as TrainerState | undefined;
  return st && file.optimizer ? { position: st.epoch * 1e9 + st.batch, value: file } : undefined;
}

export async function trainGan(run: GanRun, s: GanTrainSettings, hooks: TrainHooks): Promise<GanTrainResult> {
  const comm = run.comm ?? Communicator.single();
  return failTogether(comm, () => trainOnRanks(run, comm, s, hooks));
}

async function trainOnRanks(run: GanRun, comm: Communicator, s: GanTrainSettings, hooks: TrainHooks): Promise<GanTrainResult> {
  const lead = comm.rank === 0;
  const say = lead ? (hooks.say ?? (() => {})) : () => {};
  if (!(s.criticIters >= 1)) throw new SettingsError('criticIters', `--critic_iters must be >= 1, got ${s.criticIters}`);
  if (!(s.trainBatchSize >= 1) || !(s.evalBatchSize >= 1)) throw new SettingsError('trainBatchSize', 'batch sizes must be >= 1');
  const deviceComm = openDeviceComm(comm, run.gan.device, say);
  const trainer = new GanTrainer({ ...run, comm }, s, deviceComm);
  // The frozen bi-encoder is rank 0's everywhere before its hash is taken (a resume checks it).
  broadcastParameters(comm, run.biencoder.parts());
  const hash = biencoderHash(run.biencoder);
  const metaOf = (epoch?: number): GanMeta =>
    ganMeta(
      run.gan,
      { hash, embedDim: run.biencoder.embedDim, hiddenSize: run.biencoder.config.hiddenSize },
      { ...(epoch !== undefined ? { epoch } : {}), settings: { ...s, ...run.settingsForMeta } as Record<string, unknown> },
    );
  const n = run.train.mentions.rows;
  const batches = Math.ceil(n / s.trainBatchSize);
  let st: TrainerState = {
    epoch: 0,
    batch: 0,
    accuracies: [],
    epochs: [],
    sums: { disc: 0, dCount: 0, gen: 0, mse: 0, gCount: 0, penalty: 0, wasserstein: 0 },
  };
  const saved: string[] = [];
  // Rank 0 writes; the other ranks hold the same weights and state.
  const save = (file: string, state: TrainerState, epoch?: number) => {
    if (lead) saveGan(file, run.gan, metaOf(epoch), { optimizers: trainer.optimizers, trainerState: { ...state } });
  };
  try {
    const resumeFrom = run.resume ? findResume(run.outputPath, resumable, 1) : undefined;
    if (resumeFrom) {
      checkGanCompatible(resumeFrom.path, resumeFrom.meta, { biencoder: { hash, embedDim: run.biencoder.embedDim } });
      loadGanWeights(run.gan, resumeFrom);
      const raw = loadGanTrainingState(resumeFrom, trainer.optimizers);
      checkResumeState(raw, resumeFrom.path, { epochs: s.numTrainEpochs, stepsPerEpoch: batches, stepKey: 'batch' });
      st = raw as unknown as TrainerState;
      say(`resuming from ${resumeFrom.path}: epoch ${st.epoch}, batch ${st.batch}`);
      hooks.log.log('resume', { file: resumeFrom.path, epoch: st.epoch, batch: st.batch });
    }
    const resumeDir = resumeFrom?.path;
    // Every rank starts from rank 0's weights (resumed ranks read the same file anyway).
    broadcastParameters(comm, run.gan.parts());
    logRanks(hooks.log, comm, deviceComm, s.condGrad === 'critic' ? { allreduce: trainer.eSync.description } : {});
    say(`encoding the frozen bi-encoder's features: ${n} train mentions, ${run.val.mentions.rows} val candidates`);
    await trainer.precompute();
    if (!resumeDir) {
      hooks.log.log('plan', {
        examples: n,
        batches,
        criticIters: s.criticIters,
        condGrad: s.condGrad,
        dims: { ...run.gan.dims },
        biencoder: hash,
      });
      const acc = await trainer.validate();
      st.accuracies.push(acc);
      say(`Eval accuracy: ${acc.toFixed(5)} (before training)`);
      hooks.log.log('eval', { epoch: -1, accuracy: acc });
    }
    const t0 = performance.now();
    let done = 0;
    let order: Int32Array = new Int32Array(0);
    // Throughput of this process's part of the epoch (a resumed epoch counts from the resume).
    let epochStart = performance.now(),
      epochBatches = 0,
      epochRows = 0;
    const stop = agreedStop(comm, hooks.interrupt);
    await runEpochs<TrainerState>({
      outputPath: run.outputPath,
      epochs: s.numTrainEpochs,
      stepsPerEpoch: batches,
      start: { epoch: st.epoch, step: st.batch },
      hooks: { ...hooks, interrupt: stop.source, progress: lead ? hooks.progress : undefined },
      beginEpoch: (epoch, first) => {
        order = epochOrder(n, s.seed, epoch, s.shuffle);
        if (first === 0) st.sums = { disc: 0, dCount: 0, gen: 0, mse: 0, gCount: 0, penalty: 0, wasserstein: 0 };
        epochStart = performance.now();
        epochBatches = 0;
        epochRows = 0;
      },
      step: async (epoch, k) => {
        const r = await trainer.step(order.subarray(k * s.trainBatchSize, Math.min(n, (k + 1) * s.trainBatchSize)), epoch, k);
        for (const d of r.disc) st.sums.disc += d;
        st.sums.dCount += r.disc.length;
        st.sums.gen += r.gen;
        st.sums.mse += r.mse;
        st.sums.penalty = (st.sums.penalty ?? 0) + r.penalty;
        st.sums.wasserstein = (st.sums.wasserstein ?? 0) + r.wasserstein;
        st.sums.gCount++;
        done++;
        epochBatches++;
        epochRows += Math.min(n, (k + 1) * s.trainBatchSize) - k * s.trainBatchSize;
        stop.update();
      },
      stateAt: (epoch, batch) => ({ ...st, epoch, batch }),
      save: (path, state) => save(path, state),
      endEpoch: async (epoch) => {
        const m = st.sums;
        const g = Math.max(1, m.gCount);
        const losses = {
          disc: m.disc / Math.max(1, m.dCount),
          gen: m.gen / g,
          mse: m.mse / g,
          penalty: (m.penalty ?? 0) / g,
          wasserstein: (m.wasserstein ?? 0) / g,
        };
        const seconds = (performance.now() - epochStart) / 1000;
        say(`Epoch ${epoch}: disc loss ${losses.disc.toFixed(5)} - gen loss ${losses.gen.toFixed(5)} mse loss: ${losses.mse.toFixed(5)}`);
        const acc = await trainer.validate();
        st.accuracies.push(acc);
        st.epochs.push({ epoch, ...losses, accuracy: acc });
        st.epoch = epoch + 1;
        st.batch = 0;
        say(`Eval accuracy: ${acc.toFixed(5)}`);
        hooks.log.log('epoch', {
          epoch,
          ...losses,
          accuracy: acc,
          seconds,
          batchesPerSecond: seconds > 0 ? epochBatches / seconds : 0,
          examplesPerSecond: seconds > 0 ? epochRows / seconds : 0,
        });
        if (shouldSaveGanEpoch(epoch, s.saveEvery, s.startSaving)) {
          // The original's name: `<out>/epoch_<i>`, one torch.save file.
          const file = join(run.outputPath, epochDirName(epoch));
          save(file, st, epoch);
          saved.push(file);
          say(`saved ${file}`);
          if (lead) hooks.log.log('save', { epoch, file });
        }
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    if (lead) writeFileSync(join(run.outputPath, 'training_time.txt'), `The training took ${seconds / 60} minutes\n`);
    comm.barrier(); // every rank returns once rank 0's output is complete
    return { accuracies: st.accuracies, epochs: st.epochs, saved, batchesPerSecond: seconds > 0 ? done / seconds : 0 };
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      hooks.log.log('error', { kind: 'non-finite', message: e.message, kept: saved.at(-1) ?? null });
      say(`${e.message}${saved.length ? ` Last good checkpoint: ${saved.at(-1)}` : ''}`);
    }
    throw e;
  } finally {
    trainer.dispose();
    deviceComm?.dispose();
  }
}
