// `biofeg generate-features`: flags -> generateFeatures (generate_features.py / _hard.py).
import type { Command } from 'commander';

import { generateFeatures } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('generate-features')
    .description(
      'generate latent features for the entities unseen in train with a trained GAN (generate_features.py; --hard: generate_features_hard.py)',
    );
  addStageFlags(cmd, 'generateFeatures');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        'Writes <output_path>/candidates_50/generate.topk (in-batch: one feature per unseen entity) or, with',
        "--hard, <output_path>/candidates_80/generate.topk (each feature's top-k entities, gold at 0 when missing).",
      ].join('\n'),
    )
    .action(async () => {
      const settings = stageSettings(cmd, 'generateFeatures');
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      await withSignals((o) => generateFeatures(settings, { ...o, onProgress: drawProgress({ silent }) }));
    });
}
