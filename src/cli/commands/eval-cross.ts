// `biofeg eval-cross` (alias eval-crossencoder): flags -> evaluateCrossencoder; prints the accuracy
// table (stdout): normalized and unnormalized accuracy of the cross-encoder and of the bi-encoder.
import type { Command } from 'commander';

import { evaluateCrossencoder } from '../../api/calls.js';
import { addStageFlags, readStageFlags, stageSettings } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('eval-cross')
    .alias('eval-crossencoder')
    .description('rerank top-k candidates with a trained cross-encoder and report normalized / unnormalized accuracy per mode');
  addStageFlags(cmd, 'evaluateCrossencoder');
  cmd
    .option('--silent', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        'Modes read <data_path>/<mode>.topk or <mode>.t7 (valid -> val). Normalized accuracy counts the mentions',
        "whose gold is among the candidates (the original's); unnormalized all mentions of the mode (unknown",
        'for .t7 files). Output: <output_path>/eval_report.json.',
      ].join('\n'),
    )
    .action(async () => {
      const { maxContextLength, maxSeqLength, ...resolved } = stageSettings(cmd, 'evaluateCrossencoder');
      // The pair windows only when given: otherwise the stage reads the checkpoint's (config.json
      // biofeg.cross); passing the resolved defaults would override them as if given.
      const given = readStageFlags(cmd, 'evaluateCrossencoder');
      const settings = {
        ...resolved,
        ...(given['maxContextLength'] !== undefined ? { maxContextLength } : {}),
        ...(given['maxSeqLength'] !== undefined ? { maxSeqLength } : {}),
      };
      const silent = cmd.opts<{ silent?: boolean }>().silent ?? false;
      const r = await withSignals((o) => evaluateCrossencoder(settings, { ...o, onProgress: drawProgress({ silent }) }));
      process.stdout.write(r.table);
    });
}
