// `biofeg prepare`: flags -> prepare (the original data_process.py: arboEL layout ->
// processed/*.jsonl), optionally token caches too; prints the report as JSON.
import { Option, type Command } from 'commander';

import { prepare } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('prepare')
    .description('arboEL layout -> processed/{train,val,test,test_seen,test_unseen}.jsonl, identical to the original data_process.py');
  addStageFlags(cmd, 'prepare', { required: [] });
  cmd
    .addOption(new Option('--output-path <dir>').hideHelp())
    .option('--silent', 'no progress output')
    .action(async () => {
      const o = cmd.opts<{ outputPath?: string; silent?: boolean }>();
      const settings = stageSettings(cmd, 'prepare', { outDir: o.outputPath });
      const report = await prepare(settings, { onProgress: drawProgress({ silent: o.silent ?? false }) });
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
