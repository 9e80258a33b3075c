// `biofeg finetune`: the original's finetune.py (in-batch: scores = generated features x the
// candidate encoder's embeddings of their entities) and, with --hard, finetune_hard.py (against
// each feature's saved k candidates). Only the candidate encoder trains; optimiser, schedule,
// clipping, checkpoints and --resume are train-biencoder's.
import type { Command } from 'commander';

import { preparedPath } from '../../data/prepared.js';
import { exitOnInterrupt } from '../../train/interrupt.js';
import { FINETUNE_LEARNING_RATE, finetune, openFeatureData } from '../../train/finetune.js';
import { findGeneratedFile } from '../../train/generate-features.js';
import type { TrainResult } from '../../train/train-biencoder.js';
import { addFlags, readFlags, type FlagValues } from '../options.js';
import { trainingSession } from '../training-session.js';
import { addRunOptions, cacheDirFor, chooseDevice, openCache, openModel, readRunOptions, trainSettingsOf, type RunOptions } from '../setup.js';

const FLAG_NAMES = [
  'data_path', 'generate_data_path', 'output_path', 'bert_model', 'path_to_model', 'learning_rate', 'num_train_epochs',
  'train_batch_size', 'eval_batch_size', 'gradient_accumulation_steps', 'warmup_proportion', 'max_grad_norm',
  'type_optimization', 'seed', 'print_interval', 'eval_interval', 'max_context_length', 'max_cand_length', 'add_linear',
  'out_dim', 'silent', 'hard', 'shuffle', 'no_cuda',
] as const;

export type FinetuneFlags = FlagValues<(typeof FLAG_NAMES)[number]> & RunOptions;

export async function runFinetune(f: FinetuneFlags, io: { say: (s: string) => void } = { say: (s) => process.stdout.write(`${s}\n`) }): Promise<TrainResult> {
  if (f.output_path === undefined) throw new Error('finetune: --output_path is required');
  if (f.generate_data_path === undefined) throw new Error('finetune: --generate_data_path is required (the output of generate-features)');
  const out = f.output_path, say = io.say;
  const device = chooseDevice(f);
  const { model, settings, tok } = openModel(f, device);
  const file = findGeneratedFile(f.generate_data_path, f.hard);
  const train = openFeatureData(file, f.hard);
  const lens = { maxContextLength: f.max_context_length, maxCandLength: f.max_cand_length, cacheDir: cacheDirFor(f.data_path, out) };
  const val = { mentions: await openCache(tok, { kind: 'mentions', source: preparedPath(f.data_path, 'val'), name: 'val', ...lens }), entities: train.entities };
  say(`fine-tuning the candidate encoder on ${train.features.header.count} generated features from ${file}${f.hard ? ` (${train.features.header.topK} candidates each)` : ''}`);
  const start = { command: 'finetune', device, hard: f.hard, flags: f };
  return trainingSession(out, { silent: f.silent, start }, (hooks) =>
    finetune(
      { model, settings, train, val, outputPath: out, vocabPath: tok.vocabPath, lowercase: tok.lowercase, resume: f.resume },
      trainSettingsOf(f),
      { ...hooks, say },
    ));
}

export function register(program: Command): void {
  const cmd = program
    .command('finetune')
    .description('fine-tune the candidate encoder on generated features: in-batch (finetune.py) or, with --hard, against saved candidates (finetune_hard.py)');
  addFlags(cmd, FLAG_NAMES, { required: ['output_path', 'generate_data_path'], defaults: { learning_rate: FINETUNE_LEARNING_RATE } });
  addRunOptions(cmd, { resume: true, dropout: true });
  cmd
    .addHelpText('after', [
      '',
      '--generate_data_path: the generate-features output folder, its candidates_50/ or candidates_80/ folder, or',
      'the generate.topk file. --data_path: the prepared folder (val.jsonl is the validation set). --learning_rate',
      'defaults to 1e-9, the original README\'s value.',
    ].join('\n'))
    .action(async () => {
      try {
        await runFinetune({ ...readFlags(cmd, FLAG_NAMES), ...readRunOptions(cmd) });
      } catch (e) {
        exitOnInterrupt(e);
      }
    });
}
