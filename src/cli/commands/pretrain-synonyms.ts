// `biofeg pretrain-synonyms`: flags -> pretrainSynonyms (SapBERT's train.py with pretrain.sh's
// settings) on the names of a KB's concepts; the output folder is an HF BERT folder.
import type { Command } from 'commander';

import { pretrainSynonyms } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('pretrain-synonyms')
    .description("SapBERT's self-alignment pretraining: pull together the names of each KB concept (multi-similarity loss, [CLS])");
  addStageFlags(cmd, 'pretrainSynonyms');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        '--kb is KB JSONL ({ id, name, synonyms? } a line), a MEDIC dictionary or a CTD diseases TSV; --data_path an',
        'import-pubtator folder (the dictionary its import-report.json names). Concepts with one name are skipped.',
        '--bert_model: an HF BERT folder, or tiny|small|base from random weights with --vocab (default: the built-in',
        "dataset's). The output folder is an HF BERT folder: train-biencoder --bert_model <output_path> starts from it.",
      ].join('\n'),
    )
    .action(async () => {
      const settings = stageSettings(cmd, 'pretrainSynonyms');
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      await withSignals((o) => pretrainSynonyms(settings, { ...o, onProgress: drawProgress({ silent }) }));
    });
}
