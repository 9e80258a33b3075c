// `biofeg prepare`: flags -> prepare (the original data_process.py: arboEL layout ->
// processed/*.jsonl), optionally token caches too; prints the report as JSON.
import { Option, type Command } from 'commander';

import { prepare } from '../../api/calls.js';
import { resolveSettings } from '../../settings/resolve.js';
import { addStageFlags, readStageFlags } from '../options.js';
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
      const flags = readStageFlags(cmd, 'prepare');
      if (flags['outDir'] === undefined && o.outputPath !== undefined) flags['outDir'] = o.outputPath;
      const settings = resolveSettings('prepare', flags);
      const report = await prepare(settings, { onProgress: drawProgress({ silent: o.silent ?? false }) });
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
