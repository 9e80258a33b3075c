// `biofeg train-biencoder`: flags -> trainBiencoder (the original's train_biencoder.py; with
// --hard, train_biencoder_hard.py on the candidate files of eval-biencoder --save_topk_result).
import type { Command } from 'commander';

import { trainBiencoder } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('train-biencoder')
    .description(
      'train the bi-encoder: in-batch negatives (train_biencoder.py) or, with --hard, saved top-k candidates (train_biencoder_hard.py)',
    );
  addStageFlags(cmd, 'trainBiencoder');
  cmd.option('--silent', 'no progress bars');
  cmd.action(async () => {
    // The library checks every field (types, ranges, names) and fills the defaults.
    const settings = stageSettings(cmd, 'trainBiencoder');
    const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
    await withSignals((o) => trainBiencoder(settings, { ...o, onProgress: drawProgress({ silent }) }));
  });
}
