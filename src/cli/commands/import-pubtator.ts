// `biofeg import-pubtator`: flags -> importPubtator (PubTator corpora + MEDIC/CTD dictionary ->
// arboEL layout; then run `prepare`).
import { Option, type Command } from 'commander';

import { importPubtator } from '../../api/calls.js';
import { addStageFlags, stageSettings } from '../options.js';
import { drawProgress } from '../run.js';

export function register(program: Command): void {
  const cmd = program
    .command('import-pubtator')
    .description('PubTator train/val/test + MEDIC or CTD dictionary -> arboEL layout in --out (documents/, mentions/, import-report.json)');
  addStageFlags(cmd, 'importPubtator', { required: [] });
  cmd
    .addOption(new Option('--valid <file>').hideHelp())
    .addOption(new Option('--dev <file>').hideHelp())
    .option('--silent', 'print nothing but errors')
    .action(async () => {
      const o = cmd.opts<{ valid?: string; dev?: string; silent?: boolean }>();
      // Each split's written and dropped counts go to stderr (the report, on stdout, has them too).
      const report = await importPubtator(
        stageSettings(cmd, 'importPubtator', { val: o.valid ?? o.dev }),
        o.silent ? {} : { onProgress: drawProgress({ silent: true }) },
      );
      if (!o.silent) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
