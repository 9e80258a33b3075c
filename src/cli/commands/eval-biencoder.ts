// `biofeg eval-biencoder`: flags -> evaluateBiencoder (the original's eval_biencoder.py); prints
// the original's recall lines (stderr) and the recall table (stdout); under mpirun, rank 0 alone.
import type { Command } from 'commander';

import { evaluateBiencoder } from '../../api/calls.js';
import { launchInfo } from '../../comm/launch.js';
import { addStageFlags, readStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('eval-biencoder')
    .description(
      'retrieve the top-k entities of every mention with a bi-encoder and report recall@k per mode (the original eval_biencoder.py)',
    );
  addStageFlags(cmd, 'evaluateBiencoder');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        'Modes read <data_path>/<mode>.jsonl (valid -> val.jsonl). Token caches go to <data_path>/cache (or',
        '<output_path>/cache when the data folder is read-only); entity encodings are cached as',
        '<output_path>/entity_embeddings.<hash>.f32 (within --embedding_cache_mb; biofeg cache clean removes them).',
        'Outputs: <output_path>/eval_report.json and, with',
        '--save-topk-result, <output_path>/top<k>_candidates/<mode>.topk (gold inserted for train, mentions',
        'without a retrieved gold dropped otherwise). --top-k defaults to 64 here (the original: 10).',
      ].join('\n'),
    )
    .action(async () => {
      const { maxContextLength, maxCandLength, ...resolved } = stageSettings(cmd, 'evaluateBiencoder');
      // The windows only when given: otherwise the stage reads the checkpoint's (config.json
      // biofeg.inference); passing the resolved defaults would override them as if given.
      const given = readStageFlags(cmd, 'evaluateBiencoder');
      const settings = {
        ...resolved,
        ...(given['maxContextLength'] !== undefined ? { maxContextLength } : {}),
        ...(given['maxCandLength'] !== undefined ? { maxCandLength } : {}),
      };
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      const r = await withSignals((o) => evaluateBiencoder(settings, { ...o, onProgress: drawProgress({ silent }) }));
      if (launchInfo().rank === 0) process.stdout.write(r.table); // every rank holds the same table
    });
}
