// The trainCrossencoder stage: BioFEG's blink/crossencoder/train_cross.py on the bi-encoder's
// candidate files (train and val of a top<k>_candidates folder: ours or the original's .t7).
import { say, type TaskContext } from '../api/events.js';
import { InputError } from '../errors.js';
import { resolveSettings } from '../settings/resolve.js';
import type { TrainCrossencoderSettings } from '../settings/types.js';
import type { CrossSource } from '../train/cross-data.js';
import { trainCrossEncoder } from '../train/cross-train.js';
import { checkCrossSettings, openCrossModel, openModeSource } from './cross-setup.js';
import { rankLogDir, runCommunicator, withRankOutputLock } from './ranks.js';
import { RESUME_HINT, trainingSession } from './session.js';
import { chooseDevice, precisionOf, trainSettingsOf } from './setup.js';

export interface TrainCrossencoderResult {
  /** The run folder: the best epoch's model at its root, epoch_N/ checkpoints below. */
  outputPath: string;
  /** Normalized accuracy on val before training, then after each epoch; null where val has no mention to score. */
  accuracies: (number | null)[];
  bestEpoch: number;
  /** Optimiser updates made. */
  steps: number;
  /** Training mentions (gold among the candidates) and the candidates per mention. */
  mentions: number;
  k: number;
  mentionsPerSecond: number;
  seconds: number;
}

export async function runTrainCrossencoder(input: TrainCrossencoderSettings, ctx: TaskContext): Promise<TrainCrossencoderResult> {
  const s = resolveSettings('trainCrossencoder', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'training');
  checkCrossSettings('trainCrossencoder', s);
  const comm = runCommunicator();
  return withRankOutputLock(comm, s.outputPath, 'train-crossencoder', async () => {
    const t0 = performance.now();
    const { model, tok } = openCrossModel(s, device, 'training');
    const warn = (line: string) => say(ctx, line);
    const expect = { vocabSize: model.config.vocabSize, tokenizerHash: tok.tokenizer.hash };
    const train = openModeSource('trainCrossencoder', s, 'train', expect, warn);
    let val: CrossSource;
    try {
      val = openModeSource('trainCrossencoder', s, 'valid', expect, warn);
    } catch (e) {
      train.close();
      throw e;
    }
    try {
      if (val.k !== train.k || val.ctxLen !== train.ctxLen || val.candLen !== train.candLen)
        throw new InputError(
          val.path,
          undefined,
          `k ${val.k}, windows ${val.ctxLen}/${val.candLen}: expected those of ${train.path} (k ${train.k}, windows ${train.ctxLen}/${train.candLen})`,
        );
      if (train.count === 0)
        throw new InputError(train.path, undefined, 'no mention whose gold is among its candidates: nothing to train on');
      if (comm.rank === 0)
        say(ctx, `cross-encoder: ${train.count} training mentions x ${train.k} candidates, ${val.count} validation mentions`);
      const r = await trainingSession(
        rankLogDir(comm, s.outputPath),
        ctx,
        { resumeHint: RESUME_HINT, start: { command: 'train-crossencoder', device, settings: s } },
        (hooks) =>
          trainCrossEncoder(
            {
              model,
              train,
              val,
              pairs: { maxContextLength: s.maxContextLength, maxSeqLength: s.maxSeqLength, maxPairsPerBatch: s.maxPairsPerBatch },
              outputPath: s.outputPath,
              vocabPath: tok.vocabPath,
              lowercase: tok.lowercase,
              resume: s.resume,
              comm,
              bucketCapMb: s.bucketCapMb,
            },
            trainSettingsOf(s),
            hooks,
          ),
      );
      return {
        outputPath: s.outputPath,
        accuracies: r.accuracies,
        bestEpoch: r.bestEpoch,
        steps: r.steps,
        mentions: train.count,
        k: train.k,
        mentionsPerSecond: r.mentionsPerSecond,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      train.close();
      val.close();
    }
  });
}
