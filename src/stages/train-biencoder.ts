// The trainBiencoder stage: the original's train_biencoder.py (in-batch negatives) and, with
// `hard`, train_biencoder_hard.py (the top-k candidate files of evaluateBiencoder with saveTopkResult).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { TaskContext } from '../api/events.js';
import { TokenCache } from '../data/token-cache.js';
import { SettingsError } from '../errors.js';
import { readCandidateFile } from '../eval/candidates.js';
import { fieldLabel, resolveSettings } from '../settings/resolve.js';
import type { ResolvedSettings } from '../settings/stages.js';
import type { TrainBiencoderSettings } from '../settings/types.js';
import type { BiencoderData } from '../train/biencoder-data.js';
import { trainBiencoder as trainLoop, type TrainResult } from '../train/train-biencoder.js';
import { rankLogDir, rankZeroFirst, runCommunicator, trainerRunFields, withRankOutputLock } from './ranks.js';
import { RESUME_HINT, trainingSession } from './session.js';
import { checkDataPath, checkModelSource, chooseDevice, openModel, openTrainVal, trainSettingsOf, precisionOf } from './setup.js';

/** What trainBiencoder and finetune return. */
export interface TrainBiencoderResult {
  /** The run folder: the best epoch's model at its root, epoch_N/ checkpoints below. */
  outputPath: string;
  /** In-batch accuracy on val before training, then after each epoch. */
  accuracies: number[];
  bestEpoch: number;
  /** Optimiser updates made. */
  steps: number;
  examplesPerSecond: number;
  seconds: number;
}

/** The result object of a training stage, from its loop's result and its start time. */
export function trainResult(outputPath: string, r: TrainResult, t0: number): TrainBiencoderResult {
  const { accuracies, bestEpoch, steps, examplesPerSecond } = r;
  return { outputPath, accuracies, bestEpoch, steps, examplesPerSecond, seconds: (performance.now() - t0) / 1000 };
}

type Settings = ResolvedSettings['trainBiencoder'];

/** The candidate files of a `top<k>_candidates` folder, which name the token caches they index. */
function openHardData(s: Settings): { train: BiencoderData; val: BiencoderData } {
  const open = (split: string): BiencoderData => {
    const path = join(s.dataPath, `${split}.topk`);
    if (!existsSync(path))
      throw new SettingsError(
        'dataPath',
        `trainBiencoder: ${fieldLabel('dataPath')} ${path}: not found (with hard, the data is the top<k>_candidates folder of evaluateBiencoder with saveTopkResult on modes train and valid)`,
      );
    const file = readCandidateFile(path);
    const src = file.header.source ?? {};
    if (!src['mentionCache'] || !src['entityCache'])
      throw new SettingsError('dataPath', `${path}: the file does not name its token caches`);
    return { mentions: new TokenCache(src['mentionCache']), entities: new TokenCache(src['entityCache']), hard: file };
  };
  return { train: open('train'), val: open('val') };
}

export async function runTrainBiencoder(input: TrainBiencoderSettings, ctx: TaskContext): Promise<TrainBiencoderResult> {
  const s = resolveSettings('trainBiencoder', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'training');
  checkModelSource('trainBiencoder', s);
  const entityDict = s.hard ? undefined : checkDataPath('trainBiencoder', s, 'train');
  const comm = runCommunicator();
  return withRankOutputLock(comm, s.outputPath, 'train-biencoder', async () => {
    const t0 = performance.now();
    const { model, settings, tok } = openModel(s, device);
    const say = (line: string) => ctx.emit({ type: 'message', level: 'info', text: line });
    const data = await rankZeroFirst(comm, async () =>
      s.hard ? openHardData(s) : await openTrainVal(s, entityDict!, tok, s.outputPath, say),
    );
    const r = await trainingSession(
      rankLogDir(comm, s.outputPath),
      ctx,
      { resumeHint: RESUME_HINT, start: { command: 'train-biencoder', device, hard: s.hard, settings: s } },
      (hooks) =>
        trainLoop(
          {
            model,
            settings,
            train: data.train,
            val: data.val,
            ...trainerRunFields(s, tok, comm),
          },
          trainSettingsOf(s),
          hooks,
        ),
    );
    return trainResult(s.outputPath, r, t0);
  });
}
