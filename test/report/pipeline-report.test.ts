// `biofeg pipeline` writes <output>/report.html at its end and prints the path; a rerun of a
// stage rewrites it; a run that fails part-way still leaves a report of what it did. (A tiny
// schedule without the hard round, on a subset of the built-in data.)
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { register } from '../../src/cli/commands/pipeline.js';
import { readRun } from '../../src/index.js';
import { DONE_FILE } from '../../src/train/pipeline-state.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { runCli } from '../support/cli.js';
import { tinyPipelineConfig } from '../support/pipeline-config.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let out: string;
beforeAll(async () => {
  data = await smallDataset({ train: 48, val: 8, test: 16 });
  out = tmp('biofeg-pipeline-report-');
}, 60_000);
afterAll(cleanup);

const written = (html: string) => /written ([0-9T:.Z-]+)/.exec(html)?.[1];

describe('pipeline report.html', () => {
  it('is written at the end with its path printed, and rewritten when a stage reruns', async () => {
    const run = join(out, 'run');
    const config = join(out, 'config.json');
    writeFileSync(config, JSON.stringify(tinyPipelineConfig(data, run, { hard_round: false })));
    const first = await runCli(register, 'pipeline', ['--config', config, '--silent']);
    const report = join(run, 'report.html');
    expect(first.stdout).toContain(`report: ${report}`);
    const html = readFileSync(report, 'utf8');
    // Three recall charts (test, test_seen, test_unseen), the GAN's losses, the bi-encoder's loss.
    for (const id of ['chart-recall-0', 'chart-recall-1', 'chart-recall-2', 'chart-s2-gan-loss', 'chart-s2-gan-wgan', 'chart-s0-loss'])
      expect(html, id).toContain(`id="${id}"`);
    const r = readRun(run);
    expect(r.stages.map((s) => [s.name, s.status])).toEqual(
      ['biencoder', 'eval-biencoder', 'gan', 'generate', 'finetune', 'eval-finetune'].map((n) => [n, 'done']),
    );
    expect(r.stages[0]!.steps.length).toBeGreaterThan(0);
    expect(r.stages[2]!.gan.every((e) => e.penalty !== null && e.wasserstein !== null)).toBe(true);
    expect(r.stages[1]!.recall[0]!.points).toHaveLength(16); // k = 1..top_k

    rmSync(join(run, 'eval-finetune', DONE_FILE));
    const before = written(html);
    await new Promise((res) => setTimeout(res, 5));
    const again = await runCli(register, 'pipeline', ['--config', config, '--silent']);
    expect(again.stdout).toContain(`report: ${report}`);
    expect(written(readFileSync(report, 'utf8'))).not.toBe(before);
  });

  it('a run that fails part-way still leaves a report of what it did', async () => {
    const run = join(out, 'failing');
    const config = join(out, 'failing.json');
    // The GAN saves no checkpoint (its first save is after the last epoch): the pipeline stops at gan.
    writeFileSync(
      config,
      JSON.stringify(tinyPipelineConfig(data, run, { hard_round: false, gan: { num_train_epochs: 1, start_saving: 5 } })),
    );
    await expect(runCli(register, 'pipeline', ['--config', config, '--silent'])).rejects.toThrow(/no checkpoint was saved/);
    expect(existsSync(join(run, 'report.html'))).toBe(true);
    expect(statSync(join(run, 'report.html')).size).toBeGreaterThan(100_000); // Chart.js inlined
    const r = readRun(run);
    expect(r.stages.find((s) => s.name === 'biencoder')?.status).toBe('done');
    expect(r.stages.find((s) => s.name === 'gan')?.status).not.toBe('done');
    // The pipeline told the report its schedule: the page names the stages it never reached.
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('stages not run yet: generate, finetune, eval-finetune');
  });
});
