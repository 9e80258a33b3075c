// `biofeg train-cross` (alias train-crossencoder): flags -> trainCrossencoder (BioFEG's
// blink/crossencoder/train_cross.py) on the candidate files of eval-biencoder --save_topk_result.
import type { Command } from 'commander';

import { trainCrossencoder } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('train-cross')
    .alias('train-crossencoder')
    .description('train the cross-encoder reranker on top-k candidate files (the original train_cross.py)');
  addStageFlags(cmd, 'trainCrossencoder');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        '--data_path is a candidates folder: train and val as <name>.topk (eval-biencoder --save_topk_result',
        "--mode train,valid) or the original's <name>.t7. Mentions whose gold is not among the candidates are",
        'dropped. Pairs: the context window, then the candidate without [CLS], cut to --max_seq_length;',
        'segment ids 1 from --max_context_length on (set it to the bi-encoder context window).',
      ].join('\n'),
    )
    .action(async () => {
      const settings = stageSettings(cmd, 'trainCrossencoder');
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      await withSignals((o) => trainCrossencoder(settings, { ...o, onProgress: drawProgress({ silent }) }));
    });
}
