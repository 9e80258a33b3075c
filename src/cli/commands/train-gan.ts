// `biofeg train-gan`: the original's train_gan.py. --path_to_model is the trained bi-encoder
// (frozen), --bert_model initialises the description encoder E; G and D start from PyTorch's
// default Linear init (seeded).
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';

import { loadHfFolder } from '../../checkpoint/hf-folder.js';
import { bertConfigFromHf, type BertConfig, type BertPrecision } from '../../models/bert.js';
import { DescriptionEncoder, Gan } from '../../models/gan.js';
import { initBertParams, isBertSize, sizedConfig } from '../../models/init.js';
import { mulberry32 } from '../../models/rng.js';
import type { DeviceName } from '../../native.js';
import { exitOnInterrupt } from '../../train/interrupt.js';
import { trainGan, type CondGrad, type GanTrainResult } from '../../train/train-gan.js';
import { addFlags, readFlags, type FlagValues } from '../options.js';
import { trainingSession } from '../training-session.js';
import { addRunOptions, chooseDevice, openModel, openTrainVal, precisionOf, readRunOptions, type RunOptions } from '../setup.js';

const FLAG_NAMES = [
  'data_path', 'output_path', 'path_to_model', 'bert_model', 'entity_dict_path', 'learning_rate', 'num_train_epochs',
  'train_batch_size', 'eval_batch_size', 'critic_iters', 'type_optimization', 'seed', 'save_every', 'start_saving',
  'max_context_length', 'max_cand_length', 'add_linear', 'out_dim', 'shuffle', 'silent', 'no_cuda',
] as const;

export type GanFlags = FlagValues<(typeof FLAG_NAMES)[number]> & RunOptions & { mse_weight?: number; cond_grad?: CondGrad };

/** E from --bert_model: an HF folder's weights, or a built-in size initialised at random (seeded). */
export function openDescriptionEncoder(bertModel: string, o: { device: DeviceName; vocabSize: number; seed: number; addLinear: boolean; outDim: number; precision?: BertPrecision }): DescriptionEncoder {
  let config: BertConfig;
  let load: ((e: DescriptionEncoder) => void) | undefined;
  if (isBertSize(bertModel)) {
    config = sizedConfig(bertModel, o.vocabSize);
  } else if (existsSync(bertModel) && statSync(bertModel).isDirectory()) {
    const hf = loadHfFolder(bertModel);
    config = bertConfigFromHf(hf.config);
    load = (e) => void e.bert.loadWeights(hf.tensors, { strict: false });
  } else {
    throw new Error(`--bert_model ${bertModel}: not a folder with an HF BERT, nor one of tiny, small, base`);
  }
  if (config.vocabSize < o.vocabSize)
    throw new Error(`--bert_model ${bertModel}: its vocabulary has ${config.vocabSize} entries, the bi-encoder's tokenizer ${o.vocabSize}; E must read the same token ids`);
  const enc = new DescriptionEncoder(config, o.device, o.addLinear ? o.outDim : undefined, o.precision);
  if (load) load(enc);
  else enc.bert.parameters().upload(initBertParams(enc.bert.layout, enc.bert.numParameters, o.seed + 101));
  enc.linear?.init(mulberry32(o.seed + 102));
  return enc;
}

export async function runTrainGan(f: GanFlags, io: { say: (s: string) => void } = { say: (s) => process.stdout.write(`${s}\n`) }): Promise<GanTrainResult> {
  if (f.output_path === undefined) throw new Error('train-gan: --output_path is required');
  const out = f.output_path, say = io.say;
  const device = chooseDevice(f);
  // The bi-encoder: --path_to_model; --bert_model only when no checkpoint is given (as BiEncoderRanker).
  const { model: biencoder, settings, tok } = openModel({ ...f, dropout: undefined }, device);
  const { train, val } = await openTrainVal(f, tok, out, say);

  const encoder = openDescriptionEncoder(f.bert_model, { device, vocabSize: tok.tokenizer.vocabSize, seed: f.seed, addLinear: settings.addLinear, outDim: settings.outDim, precision: precisionOf(f.precision, device) });
  const gan = new Gan(encoder, biencoder.embedDim, device);
  gan.initMlps(f.seed);
  const start = { command: 'train-gan', device, flags: f };
  return trainingSession(out, { silent: f.silent, start }, (hooks) =>
    trainGan(
      { biencoder, gan, train, val, outputPath: out, resume: f.resume, settingsForMeta: { bert_model: f.bert_model, path_to_model: f.path_to_model ?? null } },
      {
        learningRate: f.learning_rate, numTrainEpochs: f.num_train_epochs, trainBatchSize: f.train_batch_size, evalBatchSize: f.eval_batch_size,
        criticIters: f.critic_iters, typeOptimization: f.type_optimization, seed: f.seed, saveEvery: f.save_every, startSaving: f.start_saving,
        shuffle: f.shuffle, mseWeight: f.mse_weight ?? 0, condGrad: f.cond_grad ?? 'original',
      },
      { ...hooks, say },
    ));
}

export function register(program: Command): void {
  const cmd = program
    .command('train-gan')
    .description('train the conditional WGAN-GP feature generator against a frozen bi-encoder (train_gan.py)');
  addFlags(cmd, FLAG_NAMES, { required: ['output_path'], defaults: { learning_rate: 5e-5 } });
  addRunOptions(cmd, { resume: true });
  cmd
    .addOption(new Option('--mse-weight <w>', '(biofeg) weight of MSE(fake, real) in the generator loss (the original: 0, logged only)').argParser(Number.parseFloat).default(0))
    .addHelpText('after', [
      '',
      'Checkpoints: <output_path>/epoch_<i> every --save_every epochs from --start_saving (the original: 10, 20),',
      'each one torch.save file as the original writes it ({generator, discriminator, entity_embedding}',
      'state_dicts) plus a \'biofeg\' entry (sizes, the bi-encoder\'s hash, optimizer state) that the original ignores.',
      'Ctrl-C writes <output_path>/last; --resume continues from the newer of last and the newest epoch_<i>.',
    ].join('\n'))
    .addOption(new Option('--cond-grad <which>', "(biofeg) what trains E: 'original' = the penalty's gradient only, which is zero (E only decays), 'critic' = the whole critic loss through D's condition input").choices(['original', 'critic']).default('original'));
  cmd.action(async () => {
    try {
      const o = cmd.opts<{ mseWeight?: number; condGrad?: CondGrad }>();
      await runTrainGan({ ...readFlags(cmd, FLAG_NAMES), ...readRunOptions(cmd), mse_weight: o.mseWeight ?? 0, cond_grad: o.condGrad ?? 'original' });
    } catch (e) {
      exitOnInterrupt(e);
    }
  });
}
