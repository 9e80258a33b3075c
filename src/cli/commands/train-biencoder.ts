// `biofeg train-biencoder`: the original's train_biencoder.py (in-batch negatives) and, with
// --hard, train_biencoder_hard.py (the top-k candidate files of eval-biencoder --save_topk_result).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { TokenCache } from '../../data/token-cache.js';
import { readCandidateFile } from '../../eval/candidates.js';
import type { BiencoderData } from '../../train/biencoder-data.js';
import { exitOnInterrupt } from '../../train/interrupt.js';
import { trainBiencoder, type TrainResult } from '../../train/train-biencoder.js';
import { addFlags, readFlags, type FlagValues } from '../options.js';
import { trainingSession } from '../training-session.js';
import { addRunOptions, chooseDevice, openModel, openTrainVal, readRunOptions, trainSettingsOf, type ModelTokenizer, type RunOptions } from '../setup.js';

const FLAG_NAMES = [
  'data_path', 'output_path', 'bert_model', 'path_to_model', 'entity_dict_path', 'learning_rate', 'num_train_epochs',
  'train_batch_size', 'eval_batch_size', 'gradient_accumulation_steps', 'warmup_proportion', 'max_grad_norm',
  'type_optimization', 'seed', 'print_interval', 'eval_interval', 'max_context_length', 'max_cand_length', 'add_linear',
  'out_dim', 'silent', 'hard', 'shuffle', 'no_cuda',
] as const;

export type TrainFlags = FlagValues<(typeof FLAG_NAMES)[number]> & RunOptions & { dropout?: number };

/** Opens the training and validation data of a run: token caches, or candidate files with --hard. */
async function openData(f: TrainFlags, tok: ModelTokenizer, say: (s: string) => void): Promise<{ train: BiencoderData; val: BiencoderData }> {
  if (f.hard) {
    // --data_path is a top<k>_candidates folder; its files name the token caches they refer to.
    const open = (split: string): BiencoderData => {
      const path = join(f.data_path, `${split}.topk`);
      if (!existsSync(path)) throw new Error(`${path}: not found (run eval-biencoder --save_topk_result --mode train,valid first)`);
      const file = readCandidateFile(path);
      const src = file.header.source ?? {};
      if (!src['mentionCache'] || !src['entityCache']) throw new Error(`${path}: the file does not name its token caches`);
      return { mentions: new TokenCache(src['mentionCache']), entities: new TokenCache(src['entityCache']), hard: file };
    };
    return { train: open('train'), val: open('val') };
  }
  return openTrainVal(f, tok, f.output_path!, say);
}

export async function runTrainBiencoder(f: TrainFlags, io: { say: (s: string) => void } = { say: (s) => process.stdout.write(`${s}\n`) }): Promise<TrainResult> {
  if (f.output_path === undefined) throw new Error('train-biencoder: --output_path is required');
  const out = f.output_path;
  const say = io.say;
  const device = chooseDevice(f);
  const { model, settings, tok } = openModel(f, device);
  const data = await openData(f, tok, say);
  const start = { command: 'train-biencoder', device, hard: f.hard, flags: f };
  return trainingSession(out, { silent: f.silent, start }, (hooks) =>
    trainBiencoder(
      { model, settings, train: data.train, val: data.val, outputPath: out, vocabPath: tok.vocabPath, lowercase: tok.lowercase, resume: f.resume },
      trainSettingsOf(f),
      { ...hooks, say },
    ));
}

export function register(program: Command): void {
  const cmd = program
    .command('train-biencoder')
    .description('train the bi-encoder: in-batch negatives (train_biencoder.py) or, with --hard, saved top-k candidates (train_biencoder_hard.py)');
  addFlags(cmd, FLAG_NAMES, { required: ['output_path'] });
  addRunOptions(cmd, { resume: true, dropout: true });
  cmd.action(async () => {
    try {
      await runTrainBiencoder({ ...readFlags(cmd, FLAG_NAMES), ...readRunOptions(cmd) });
    } catch (e) {
      exitOnInterrupt(e);
    }
  });
}
