// `biofeg train-gan`: flags -> trainGan (the original's train_gan.py).
import type { Command } from 'commander';

import { trainGan } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('train-gan')
    .description('train the conditional WGAN-GP feature generator against a frozen bi-encoder (train_gan.py)');
  addStageFlags(cmd, 'trainGan');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        'Checkpoints: <output_path>/epoch_<i> every --save_every epochs from --start_saving (the original: 10, 20),',
        'each one torch.save file as the original writes it ({generator, discriminator, entity_embedding}',
        "state_dicts) plus a 'biofeg' entry (sizes, the bi-encoder's hash, optimizer state) that the original ignores.",
        'Ctrl-C writes <output_path>/last; --resume continues from the newer of last and the newest epoch_<i>.',
      ].join('\n'),
    )
    .action(async () => {
      const settings = stageSettings(cmd, 'trainGan');
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      await withSignals((o) => trainGan(settings, { ...o, onProgress: drawProgress({ silent }) }));
    });
}
