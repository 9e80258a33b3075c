// SapBERT's training loop (cambridgeltl/sapbert train/train.py) over pairs of synonyms: shuffled
// batches of pairs (the last one partial, as its DataLoader), one AdamW update a batch at a
// constant learning rate (train.py has no scheduler and no clipping; torch AdamW: eps 1e-8, bias
// correction, weight decay on every trained parameter), `epoch_N/` checkpoints (weights,
// optimiser moments, position) and, at the end, the last epoch's BERT copied to the output root
// as an HF folder (config.json, model.safetensors, vocab.txt), which `train-biencoder
// --bert_model DIR` starts from. A stop writes `<output>/last`; resume continues from the newest.
// Under mpirun each rank takes its shard of every batch (see PretrainRun.comm), as the bi-encoder.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { Communicator } from '../comm/communicator.js';
import { broadcastParameters, globalMeanLoss, logRanks, openDeviceComm, shardOf } from '../comm/data-parallel.js';
import { GradientSync } from '../comm/grad-overlap.js';
import { writeSafetensors } from '../checkpoint/index.js';
import type { Bert, BertConfig } from '../models/bert.js';
import { bertPart } from '../models/biencoder.js';
import { hfConfigOf } from '../models/init.js';
import { Workspace } from '../models/workspace.js';
import type { DistNegatives } from '../settings/types.js';
import { loadTrainingState } from './biencoder-checkpoint.js';
import { epochOrder } from './biencoder-data.js';
import { copyModelToRoot, epochDirName, findResume, writeCheckpointDir } from './checkpoint-dir.js';
import { checkFiniteLoss } from './guard.js';
import type { TrainHooks } from './hooks.js';
import { runEpochs } from './loop.js';
import { FlatAdamW } from './optimizer.js';
import { agreedStop, failTogether } from './rank-guards.js';
import { StepWindow } from './step-metrics.js';
import { globalSynonymStep } from './synonym-global.js';
import { synonymStep, type PairBatch } from './synonym-step.js';
import { checkResumeState, readStateFile } from './trainer-state.js';
import { writeTrainingFiles } from './training-files.js';

/** Tokenised names and the pairs over them (src/data/synonym-pairs.ts). */
export interface SynonymData {
  /** [CLS] name [SEP] ids of each distinct name, cut to the maximum length. */
  tokens: Int32Array[];
  left: Int32Array;
  right: Int32Array;
  label: Int32Array;
}

export interface PretrainSettings {
  learningRate: number;
  weightDecay: number;
  trainBatchSize: number;
  epochs: number;
  seed: number;
  shuffle: boolean;
}

export interface PretrainRun {
  bert: Bert;
  /** The config written to config.json (the model's, before a --dropout override). */
  saveConfig: BertConfig;
  data: SynonymData;
  outputPath: string;
  vocabPath?: string | undefined;
  lowercase: boolean;
  resume?: boolean;
  /**
   * Data-parallel training over these ranks (default: a single process). Each rank takes its shard
   * of every batch, the gradients are summed over the ranks before every update, every rank takes
   * the same update; rank 0 alone writes checkpoints.
   */
  comm?: Communicator;
  /**
   * The in-batch pairs of a multi-rank run: 'local' (default; each rank mines its own shard's pairs,
   * as DDP: another loss than the whole batch's) or 'global' (the all-gathered batch: the single
   * process's loss on the whole batch).
   */
  distNegatives?: DistNegatives;
  /** Gradient all-reduce bucket size of a multi-rank run in MiB, sent during the backward (default 25; 0: after it). */
  bucketCapMb?: number;
}

export interface PretrainResult {
  /** Mean loss of each epoch run here (a resumed epoch: of its remaining batches). */
  epochLosses: number[];
  /** Mean loss of the first and the last logged window of batches. */
  firstLoss: number;
  lastLoss: number;
  steps: number;
  pairsPerSecond: number;
}

interface State {
  epoch: number;
  microStep: number;
  updates: number;
  epochLosses: number[];
  firstLoss: number | null;
}

/** The pooler gets no gradient from the [CLS] loss; torch's AdamW skips it (no update, no decay), and so is it left out here. */
const TRAINED = ['embeddings.', 'encoder.'];

export function pairBatch(d: SynonymData, idx: Int32Array): PairBatch {
  const rows = idx.length;
  let seq = 1;
  for (const i of idx) seq = Math.max(seq, d.tokens[d.left[i]!]!.length, d.tokens[d.right[i]!]!.length);
  const left = new Int32Array(rows * seq),
    right = new Int32Array(rows * seq),
    labels = new Int32Array(rows);
  idx.forEach((p, r) => {
    left.set(d.tokens[d.left[p]!]!, r * seq);
    right.set(d.tokens[d.right[p]!]!, r * seq);
    labels[r] = d.label[p]!;
  });
  return { left, right, rows, seq, labels };
}

async function saveBert(dir: string, r: PretrainRun, opt?: FlatAdamW, state?: State): Promise<void> {
  const weights = r.bert.exportWeights();
  await writeCheckpointDir(dir, (tmp) => {
    writeSafetensors(join(tmp, 'model.safetensors'), weights, { format: 'pt' });
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(hfConfigOf(r.saveConfig), null, 2)}\n`);
    writeTrainingFiles(tmp, { vocabPath: r.vocabPath, lowercase: r.lowercase, optimizer: opt, trainerState: state });
  });
}

export async function pretrainSynonyms(r: PretrainRun, s: PretrainSettings, hooks: TrainHooks): Promise<PretrainResult> {
  const comm = r.comm ?? Communicator.single();
  return failTogether(comm, () => pretrainOnRanks(r, comm, s, hooks));
}

async function pretrainOnRanks(r: PretrainRun, comm: Communicator, s: PretrainSettings, hooks: TrainHooks): Promise<PretrainResult> {
  const { bert, data } = r;
  const lead = comm.rank === 0;
  const say = lead ? (hooks.say ?? (() => {})) : () => {};
  const global = r.distNegatives === 'global' && comm.size > 1;
  const n = data.left.length;
  if (n === 0) throw new Error('synonym pretraining: no pairs');
  const B = s.trainBatchSize;
  const stepsPerEpoch = Math.ceil(n / B);
  // A 'ref' BERT keeps its tensors in host memory: the loss and optimiser run there on the CPU backend.
  const device = bert.device === 'cuda' ? 'cuda' : 'cpu';
  const parts = [bertPart(bert, '')];
  const opt = new FlatAdamW(device, parts, {
    patterns: TRAINED,
    weightDecay: s.weightDecay,
    eps: 1e-8,
    biasCorrection: true,
    decayed: () => true,
  });
  const ws = new Workspace(device);
  let st: State = { epoch: 0, microStep: 0, updates: 0, epochLosses: [], firstLoss: null };
  const resumeDir = r.resume
    ? findResume(r.outputPath, (dir) => {
        const at = readStateFile(join(dir, 'trainer_state.json'));
        return at && { position: Number(at['epoch']) * 1e9 + Number(at['microStep']), value: dir };
      })
    : undefined;
  if (resumeDir) {
    const raw = loadTrainingState(resumeDir, opt);
    // No validation metric here: the shared check wants an (empty) accuracies list.
    checkResumeState({ ...raw, accuracies: [] }, join(resumeDir, 'trainer_state.json'), {
      epochs: s.epochs,
      stepsPerEpoch,
      stepKey: 'microStep',
    });
    bert.loadWeights(loadHfFolder(resumeDir).tensors);
    st = {
      epoch: raw['epoch'] as number,
      microStep: raw['microStep'] as number,
      updates: Number(raw['updates'] ?? 0),
      epochLosses: Array.isArray(raw['epochLosses']) ? (raw['epochLosses'] as unknown[]).map(Number) : [],
      firstLoss: typeof raw['firstLoss'] === 'number' ? raw['firstLoss'] : null,
    };
    say(`resuming from ${resumeDir}: epoch ${st.epoch}, batch ${st.microStep}, ${st.updates} updates done`);
    hooks.log.log('resume', { dir: resumeDir, epoch: st.epoch, microStep: st.microStep, updates: st.updates });
  }
  // Every rank starts from rank 0's weights (resumed ranks read the same files anyway).
  broadcastParameters(comm, parts);
  const deviceComm = openDeviceComm(comm, device, say);
  const sync = new GradientSync(comm, parts, deviceComm, r.bucketCapMb);
  logRanks(hooks.log, comm, deviceComm, { negatives: global ? 'global' : 'local', allreduce: sync.description });
  if (!resumeDir) {
    hooks.log.log('plan', {
      pairs: n,
      batchSize: B,
      stepsPerEpoch,
      epochs: s.epochs,
      trainable: opt.trainableElements,
      frozen: opt.frozenNames,
    });
  }

  const win = new StepWindow(stepsPerEpoch);
  let epochSum = 0,
    epochCount = 0,
    lastLoss = NaN,
    seen = 0;
  let order: Int32Array = new Int32Array(0);
  // Rank 0 writes; the others hold the same weights and state.
  const save = async (dir: string, state: State) => {
    if (lead) await saveBert(dir, r, opt, state);
  };
  const stop = agreedStop(comm, hooks.interrupt);
  const t0 = performance.now();
  await runEpochs<State>({
    outputPath: r.outputPath,
    epochs: s.epochs,
    stepsPerEpoch,
    start: { epoch: st.epoch, step: st.microStep },
    hooks: { ...hooks, interrupt: stop.source, progress: lead ? hooks.progress : undefined },
    beginEpoch: (epoch) => {
      order = epochOrder(n, s.seed, epoch, s.shuffle);
      epochSum = 0;
      epochCount = 0;
      win.reset();
    },
    step: async (epoch, k) => {
      const idx = order.subarray(k * B, Math.min(n, (k + 1) * B));
      // This rank's pairs of the batch (all of them in a single process).
      const { lo, hi } = shardOf(idx.length, comm.rank, comm.size);
      const mine = hi > lo ? pairBatch(data, idx.subarray(lo, hi)) : undefined;
      const seed = BigInt(s.seed) * 1_000_003n + BigInt(epoch) * 1_000_000_007n + BigInt(k);
      bert.zeroGrad();
      // Every batch is an update: its backward starts the gradient all-reduce.
      const reduce = sync.step(true)!;
      let loss: number;
      if (global) {
        loss = await globalSynonymStep(
          comm,
          bert,
          ws,
          mine,
          Int32Array.from(idx, (p) => data.label[p]!),
          { train: true, seed, reduce },
        );
        reduce.backwardDone();
      } else {
        // The shard's own loss weighted by its share of the pairs: the summed gradients are those of the shards' weighted mean.
        const lossScale = (hi - lo) / idx.length;
        const local = mine ? await synonymStep(bert, ws, mine, { train: true, seed, lossScale, reduce }) : 0;
        reduce.backwardDone();
        loss = globalMeanLoss(comm, local, hi - lo);
      }
      checkFiniteLoss(loss, st.updates, { what: 'multi-similarity loss', context: `epoch ${epoch}, batch ${k}` });
      stop.update();
      sync.finish(reduce, hooks.log);
      opt.update(s.learningRate);
      st.updates++;
      seen += idx.length;
      epochSum += loss;
      epochCount++;
      win.add(loss, 2 * idx.length);
      // One update a batch; the epoch's last batch closes its window.
      const full = win.update();
      if (full || k === stepsPerEpoch - 1) {
        const mean = win.flush(hooks.log, { epoch, step: k, updates: st.updates, lr: s.learningRate, gradNorm: opt.gradNorm() });
        st.firstLoss ??= mean;
        lastLoss = mean;
      }
    },
    stateAt: (epoch, microStep) => ({ ...st, epoch, microStep, epochLosses: [...st.epochLosses] }),
    save,
    endEpoch: async (epoch) => {
      const mean = epochCount > 0 ? epochSum / epochCount : NaN;
      st.epochLosses.push(mean);
      st.epoch = epoch + 1;
      st.microStep = 0;
      await save(join(r.outputPath, epochDirName(epoch)), { ...st, epochLosses: [...st.epochLosses] });
      say(`epoch ${epoch}: mean multi-similarity loss ${mean.toFixed(4)}`);
      hooks.log.log('epoch', { epoch, loss: mean, updates: st.updates });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const lastDir = join(r.outputPath, epochDirName(s.epochs - 1));
  if (lead && existsSync(lastDir)) {
    copyModelToRoot(lastDir, r.outputPath);
    say(`the BERT of epoch ${s.epochs - 1} is in ${r.outputPath} (train-biencoder --bert_model ${r.outputPath} starts from it)`);
  }
  ws.dispose();
  opt.dispose();
  deviceComm?.dispose();
  comm.barrier(); // every rank returns once rank 0's output is complete
  return {
    epochLosses: st.epochLosses,
    firstLoss: st.firstLoss ?? NaN,
    lastLoss,
    steps: st.updates,
    pairsPerSecond: seconds > 0 ? seen / seconds : 0,
  };
}
