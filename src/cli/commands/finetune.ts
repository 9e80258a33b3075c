// `biofeg finetune`: flags -> finetune (the original's finetune.py; with --hard, finetune_hard.py).
import type { Command } from 'commander';

import { finetune } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('finetune')
    .description(
      'fine-tune the candidate encoder on generated features: in-batch (finetune.py) or, with --hard, against saved candidates (finetune_hard.py)',
    );
  addStageFlags(cmd, 'finetune');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        '--generate_data_path: the generate-features output folder, its candidates_50/ or candidates_80/ folder, or',
        'the generate.topk file. --data_path: the prepared folder (val.jsonl is the validation set). --learning_rate',
        "defaults to 1e-9, the original README's value.",
      ].join('\n'),
    )
    .action(async () => {
      const settings = stageSettings(cmd, 'finetune');
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      await withSignals((o) => finetune(settings, { ...o, onProgress: drawProgress({ silent }) }));
    });
}
