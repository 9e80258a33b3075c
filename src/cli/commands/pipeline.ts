// `biofeg pipeline --config FILE`: the JSON config -> runPipeline (src/pipeline/run.ts has the
// schedule). Config keys are the library's PipelineConfig, in camelCase or the original's
// snake_case (`learning_rate`, `biencoder_hard`); see the README. Prints every eval stage's
// recall table at the end, including those of stages skipped as already finished, then the path of
// the run's report.html (written by runPipeline).
import { Option, type Command } from 'commander';

import { runPipeline } from '../../api/calls.js';
import { readPipelineConfig } from '../../pipeline/config.js';
import type { PipelineResult } from '../../pipeline/run.js';
import { drawProgress, withSignals } from '../run.js';

/** The eval stages' tables of a pipeline result, in stage order. */
export function pipelineTables(r: PipelineResult): string {
  const out: string[] = [];
  for (const s of r.stages) {
    const table = (s.result as { table?: unknown } | null)?.table;
    if (typeof table === 'string') out.push(`\n${s.stage}${s.skipped ? ' (finished before)' : ''}:\n${table.trimEnd()}`);
  }
  return out.join('\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('pipeline')
    .description(
      "run the original's whole schedule from one JSON config: bi-encoder -> eval -> GAN -> generate -> finetune -> eval, then the hard-negative round; reruns skip finished stages",
    )
    .addOption(new Option('--config <file>', 'JSON config (keys: the README, "biofeg pipeline")').makeOptionMandatory())
    .option('--silent', 'no progress bars')
    .action(async () => {
      const o = cmd.opts<{ config: string; silent?: boolean }>();
      const config = readPipelineConfig(o.config);
      const r = await withSignals((s) => runPipeline(config, { ...s, onProgress: drawProgress({ silent: o.silent ?? false }) }));
      process.stdout.write(`${pipelineTables(r)}\n`);
      if (r.reportPath !== undefined) process.stdout.write(`\nreport: ${r.reportPath}\n`);
    });
}
