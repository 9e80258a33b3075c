// `crossencoder: true` adds the cross-encoder after the last bi-encoder stage of `biofeg pipeline`:
// candidates of the final bi-encoder, training, evaluation, each with its DONE.json; the command
// prints the cross-encoder's table; a rerun skips them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { register } from '../../src/cli/commands/pipeline.js';
import { parsePipelineConfig, pipelineStageNames, readPipelineConfig, runPipeline } from '../../src/index.js';
import type { CrossModeReport } from '../../src/stages/evaluate-cross.js';
import { DONE_FILE } from '../../src/train/pipeline-state.js';
import { runCli } from '../support/cli.js';
import { tinyPipelineConfig } from '../support/pipeline-config.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';

let configFile: string;
let run: string;

beforeAll(async () => {
  const data = await smallDataset({ train: 48, val: 8, test: 16 });
  const out = tmp('biofeg-cross-pipeline-');
  run = join(out, 'run');
  configFile = join(out, 'config.json');
  const cfg = tinyPipelineConfig(data, run, {
    hard_round: false,
    crossencoder: true,
    cross_top_k: 4,
    cross: { learning_rate: 1e-4, train_batch_size: 4, eval_batch_size: 8, type_optimization: 'all', max_seq_length: 64 },
  });
  writeFileSync(configFile, JSON.stringify(cfg));
}, 60_000);
afterAll(cleanup);

describe('biofeg pipeline with crossencoder', () => {
  it('stage names: the cross stages follow the last bi-encoder stage', () => {
    expect(pipelineStageNames({ crossencoder: true }).slice(-4)).toEqual([
      'eval-final',
      'cross-candidates',
      'crossencoder',
      'eval-crossencoder',
    ]);
    expect(pipelineStageNames({ crossencoder: true, hardRound: false }).slice(-4)).toEqual([
      'eval-finetune',
      'cross-candidates',
      'crossencoder',
      'eval-crossencoder',
    ]);
    expect(pipelineStageNames({})).not.toContain('crossencoder');
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'o', crossencoder: 'yes' }, 'c.json')).toThrow(
      /"crossencoder" must be true or false/,
    );
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'o', cross: { mode: 'test' } }, 'c.json')).not.toThrow();
  });

  it('trains and evaluates the cross-encoder on the final bi-encoder candidates; a rerun skips it', async () => {
    const r = await runPipeline(readPipelineConfig(configFile));
    expect(r.stages.map((s) => s.stage)).toEqual(pipelineStageNames({ crossencoder: true, hardRound: false }));
    for (const s of ['cross-candidates', 'crossencoder', 'eval-crossencoder']) expect(existsSync(join(run, s, DONE_FILE)), s).toBe(true);
    for (const m of ['train', 'val', 'test', 'test_seen', 'test_unseen'])
      expect(existsSync(join(run, 'cross-candidates', 'top4_candidates', `${m}.topk`)), m).toBe(true);
    const cfg = JSON.parse(readFileSync(join(run, 'crossencoder', 'config.json'), 'utf8')) as { biofeg: { cross: Record<string, number> } };
    // The shared max_context_length (the bi-encoder's window) is the segment boundary.
    expect(cfg.biofeg.cross).toMatchObject({ max_context_length: 32, max_cand_length: 48, max_seq_length: 64 });
    const done = JSON.parse(readFileSync(join(run, 'eval-crossencoder', DONE_FILE), 'utf8')) as { result: { modes: CrossModeReport[] } };
    expect(done.result.modes.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
    const [all, seen, unseen] = done.result.modes;
    expect(all!.mentions).toBe(seen!.mentions! + unseen!.mentions!);
    expect(all!.hits).toBe(seen!.hits + unseen!.hits);

    const { stdout } = await runCli(register, 'pipeline', ['--config', configFile, '--silent']);
    expect(stdout).toMatch(/eval-crossencoder \(finished before\):\nmode +mentions +scored +cross norm/);
  }, 300_000);
});
