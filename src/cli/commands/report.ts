// `biofeg report RUN_DIR [--out FILE]`: flags -> writeReport (src/report/). Prints the file's path
// and what the run's files lack.
import type { Command } from 'commander';

import { writeReport } from '../../report/index.js';

export function register(program: Command): void {
  const cmd = program
    .command('report')
    .description(
      "one self-contained HTML report (charts and data inlined; opens offline) of a pipeline's folder or one stage's folder: training curves, GAN losses, recall@k per mode, settings, wall times",
    )
    .argument('<run_dir>', "a pipeline's output folder (e.g. runs/demo) or one stage's output folder")
    .option('--out <file>', 'the HTML file to write (default <run_dir>/report.html)')
    .action(async (runDir: string) => {
      const o = cmd.opts<{ out?: string }>();
      const r = await writeReport({ runDir, ...(o.out !== undefined ? { out: o.out } : {}) });
      for (const m of r.missing) process.stderr.write(`report: ${m}\n`);
      process.stdout.write(`report: ${r.path} (${r.finished} of ${r.stages} stages finished, ${r.charts} charts)\n`);
    });
}
