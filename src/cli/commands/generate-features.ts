// `biofeg generate-features`: the original's generate_features.py and, with --hard,
// generate_features_hard.py. Features of G for every entity no training mention links to, saved
// with their entity as a candidate file (src/train/generate-features.ts) that finetune reads.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { preparedPath } from '../../data/prepared.js';
import { exitOnInterrupt } from '../../train/interrupt.js';
import { biencoderHash, loadGan } from '../../train/gan-checkpoint.js';
import { generateFeatureFile, labelIds, resolveGanPath, unseenEntities, type GenerateResult } from '../../train/generate-features.js';
import { addFlags, readFlags, type FlagValues } from '../options.js';
import { createProgress } from '../progress.js';
import { addRunOptions, cacheDirFor, chooseDevice, openCache, openModel, precisionOf, readRunOptions, type RunOptions } from '../setup.js';

const FLAG_NAMES = [
  'data_path', 'entity_dict_path', 'gan_path', 'path_to_model', 'output_path', 'bert_model', 'hard', 'top_k',
  'encode_batch_size', 'eval_batch_size', 'max_context_length', 'max_cand_length', 'add_linear', 'out_dim', 'seed',
  'silent', 'no_cuda',
] as const;

export type GenerateFlags = FlagValues<(typeof FLAG_NAMES)[number]> & RunOptions & {
  /** The bi-encoder the GAN was trained with, when --path_to_model is a later one (the hard round). */
  gan_biencoder?: string;
};

export async function runGenerateFeatures(f: GenerateFlags, io: { say: (s: string) => void } = { say: (s) => process.stdout.write(`${s}\n`) }): Promise<GenerateResult> {
  if (f.output_path === undefined) throw new Error('generate-features: --output_path is required');
  if (f.gan_path === undefined) throw new Error('generate-features: --gan_path is required');
  if (f.path_to_model === undefined) throw new Error('generate-features: --path_to_model (the trained bi-encoder) is required');
  const device = chooseDevice(f);
  const { model, tok } = openModel({ ...f, dropout: undefined }, device);
  // The GAN must come from the bi-encoder it imitates: --path_to_model, or --gan_biencoder when
  // the hard round scores with a later bi-encoder (as the original's README does).
  const ref = f.gan_biencoder ? openModel({ ...f, path_to_model: f.gan_biencoder, dropout: undefined }, device).model : model;
  const ganFile = resolveGanPath(f.gan_path);
  const { gan } = loadGan(ganFile, device, { biencoder: { hash: biencoderHash(ref), embedDim: ref.embedDim }, precision: precisionOf(f.precision, device) });

  const entityDict = f.entity_dict_path ?? join(f.data_path, '..', 'documents', 'all_documents.json');
  if (!existsSync(entityDict)) throw new Error(`--entity_dict_path: ${entityDict} not found`);
  const lens = { maxContextLength: f.max_context_length, maxCandLength: f.max_cand_length, cacheDir: cacheDirFor(f.data_path, f.output_path) };
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', ...lens });
  const train = await openCache(tok, { kind: 'mentions', source: preparedPath(f.data_path, 'train'), name: 'train', ...lens });
  const rows = unseenEntities(labelIds(train), entities.rows);
  train.close();
  io.say(`${rows.length} of ${entities.rows} entities are not linked by any training mention; generating their features with ${ganFile}`);
  const bars = new Map<string, ReturnType<typeof createProgress>>();
  const r = await generateFeatureFile({
    biencoder: model, gan, entities, rows, outputPath: f.output_path, hard: f.hard, topK: f.top_k,
    batchSize: f.eval_batch_size, encodeBatchSize: f.encode_batch_size, seed: f.seed,
    source: { gan: resolve(ganFile), pathToModel: resolve(f.path_to_model), entityDict: resolve(entityDict) },
    onProgress: (label, done, total) => {
      let b = bars.get(label);
      if (!b) bars.set(label, (b = createProgress({ label, total, silent: f.silent })));
      b.update(done);
      if (done >= total) b.stop();
    },
  });
  const h = r.header;
  io.say(f.hard
    ? `${h.count} features with their top-${h.topK} entities (gold inserted at 0 for ${h.inserted}) written to ${r.path}`
    : `${h.count} features written to ${r.path}`);
  return r;
}

export function register(program: Command): void {
  const cmd = program
    .command('generate-features')
    .description('generate latent features for the entities unseen in train with a trained GAN (generate_features.py; --hard: generate_features_hard.py)');
  addFlags(cmd, FLAG_NAMES, { required: ['output_path', 'gan_path', 'path_to_model'], defaults: { top_k: 64 } });
  addRunOptions(cmd);
  cmd
    .addOption(new Option('--gan-biencoder <path>', '(biofeg) the bi-encoder the GAN was trained with, when --path_to_model is a later one (hard round)'))
    .addHelpText('after', [
      '',
      'Writes <output_path>/candidates_50/generate.topk (in-batch: one feature per unseen entity) or, with',
      '--hard, <output_path>/candidates_80/generate.topk (each feature\'s top-k entities, gold at 0 when missing).',
      '--gan_path: a GAN checkpoint file (train-gan\'s <output_path>/epoch_<i>, as the original) or a train-gan output',
      'folder (its newest epoch_<i>). --top_k defaults to 64.',
    ].join('\n'))
    .action(async () => {
      try {
        const o = cmd.opts<{ ganBiencoder?: string }>();
        await runGenerateFeatures({ ...readFlags(cmd, FLAG_NAMES), ...readRunOptions(cmd), ...(o.ganBiencoder !== undefined ? { gan_biencoder: o.ganBiencoder } : {}) });
      } catch (e) {
        exitOnInterrupt(e);
      }
    });
}
