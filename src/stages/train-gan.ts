// The trainGan stage: the original's train_gan.py. `pathToModel` is the trained bi-encoder
// (frozen), `bertModel` initialises the description encoder E; G and D start from PyTorch's
// default Linear init (seeded).
import { existsSync, statSync } from 'node:fs';

import type { TaskContext } from '../api/events.js';
import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { SettingsError } from '../errors.js';
import { bertConfigFromHf, type BertConfig, type BertPrecision } from '../models/bert.js';
import { DescriptionEncoder, Gan } from '../models/gan.js';
import { initBertParams, isBertSize, sizedConfig } from '../models/init.js';
import { mulberry32 } from '../models/rng.js';
import type { DeviceName } from '../native.js';
import { fieldLabel, resolveSettings } from '../settings/resolve.js';
import type { TrainGanSettings } from '../settings/types.js';
import { trainGan as trainGanLoop, type EpochLosses } from '../train/train-gan.js';
import { rankLogDir, rankZeroFirst, runCommunicator, withRankOutputLock } from './ranks.js';
import { RESUME_HINT, trainingSession } from './session.js';
import { checkDataPath, checkModelSource, chooseDevice, openModel, openTrainVal, precisionOf } from './setup.js';

export interface TrainGanResult {
  outputPath: string;
  /** The bi-encoder's in-batch accuracy on val with generated features, before training and after each epoch. */
  accuracies: number[];
  epochs: EpochLosses[];
  /** Checkpoint files written (`<outputPath>/epoch_<i>`). */
  saved: string[];
  batchesPerSecond: number;
  seconds: number;
}

/** E from `bertModel`: an HF folder's weights, or a built-in size initialised at random (seeded). */
export function openDescriptionEncoder(
  bertModel: string,
  o: { device: DeviceName; vocabSize: number; seed: number; addLinear: boolean; outDim: number; precision?: BertPrecision },
): DescriptionEncoder {
  let config: BertConfig;
  let load: ((e: DescriptionEncoder) => void) | undefined;
  if (isBertSize(bertModel)) {
    config = sizedConfig(bertModel, o.vocabSize);
  } else if (existsSync(bertModel) && statSync(bertModel).isDirectory()) {
    const hf = loadHfFolder(bertModel);
    config = bertConfigFromHf(hf.config);
    load = (e) => void e.bert.loadWeights(hf.tensors, { strict: false });
  } else {
    throw new SettingsError(
      'bertModel',
      `${fieldLabel('bertModel')} ${bertModel}: not a folder with an HF BERT, nor one of tiny, small, base`,
    );
  }
  if (config.vocabSize < o.vocabSize)
    throw new SettingsError(
      'bertModel',
      `${fieldLabel('bertModel')} ${bertModel}: its vocabulary has ${config.vocabSize} entries, the bi-encoder's tokenizer ${o.vocabSize}; E must read the same token ids`,
    );
  const enc = new DescriptionEncoder(config, o.device, o.addLinear ? o.outDim : undefined, o.precision);
  if (load) load(enc);
  else enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, o.seed + 101));
  enc.linear?.init(mulberry32(o.seed + 102));
  return enc;
}

export async function runTrainGan(input: TrainGanSettings, ctx: TaskContext): Promise<TrainGanResult> {
  const s = resolveSettings('trainGan', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'training');
  checkModelSource('trainGan', { ...s, pathToModel: s.pathToModel });
  if (!isBertSize(s.bertModel) && !existsSync(s.bertModel))
    throw new SettingsError(
      'bertModel',
      `trainGan: ${fieldLabel('bertModel')} "${s.bertModel}" (the description encoder E) is neither a built-in size nor a folder with an HF BERT`,
    );
  const entityDict = checkDataPath('trainGan', s, 'train');
  const comm = runCommunicator();
  return withRankOutputLock(comm, s.outputPath, 'train-gan', async () => {
    const t0 = performance.now();
    // The bi-encoder: pathToModel; bertModel only when no checkpoint is given (as BiEncoderRanker).
    const { model: biencoder, settings, tok } = openModel({ ...s, dropout: undefined }, device);
    const say = (line: string) => ctx.emit({ type: 'message', level: 'info', text: line });
    const { train, val } = await rankZeroFirst(comm, () => openTrainVal(s, entityDict, tok, s.outputPath, say));
    const encoder = openDescriptionEncoder(s.bertModel, {
      device,
      vocabSize: tok.tokenizer.vocabSize,
      seed: s.seed,
      addLinear: settings.addLinear,
      outDim: settings.outDim,
      precision: precisionOf(s.precision, device, 'training'),
    });
    const gan = new Gan(encoder, biencoder.embedDim, device);
    gan.initMlps(s.seed);
    const r = await trainingSession(
      rankLogDir(comm, s.outputPath),
      ctx,
      { resumeHint: RESUME_HINT, start: { command: 'train-gan', device, settings: s } },
      (hooks) =>
        trainGanLoop(
          {
            biencoder,
            gan,
            train,
            val,
            outputPath: s.outputPath,
            resume: s.resume,
            comm,
            bucketCapMb: s.bucketCapMb,
            settingsForMeta: { bert_model: s.bertModel, path_to_model: s.pathToModel ?? null },
          },
          {
            learningRate: s.learningRate,
            numTrainEpochs: s.numTrainEpochs,
            trainBatchSize: s.trainBatchSize,
            evalBatchSize: s.evalBatchSize,
            criticIters: s.criticIters,
            typeOptimization: s.typeOptimization,
            seed: s.seed,
            saveEvery: s.saveEvery,
            startSaving: s.startSaving,
            shuffle: s.shuffle,
            mseWeight: s.mseWeight,
            condGrad: s.condGrad,
          },
          hooks,
        ),
    );
    return { outputPath: s.outputPath, ...r, seconds: (performance.now() - t0) / 1000 };
  });
}
