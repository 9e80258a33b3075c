// `biofeg pipeline`: the whole schedule on a subset of the built-in dataset with a tiny BERT
// (1 epoch per training stage, 2 GAN epochs), then a rerun that skips every finished stage, and
// a rerun after removing one marker that redoes that stage only. Config errors name the key.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  parsePipelineConfig,
  pipelineStageNames,
  readPipelineConfig,
  runPipeline,
  SettingsError,
  type ProgressEvent,
} from '../src/index.js';
import { CROSS_STAGES, DEFAULT_STAGES } from '../src/pipeline/config.js';
import { stageFingerprint } from '../src/pipeline/run.js';
import { register } from '../src/cli/commands/pipeline.js';
import { runCli } from './support/cli.js';
import { readCandidateFile } from '../src/eval/candidates.js';
import { DONE_FILE } from '../src/train/pipeline-state.js';
import { cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';
import { tinyPipelineConfig } from './support/pipeline-config.js';

// Spelled out: the original's README schedule, not the module's own constant (which would make the checks below tautologies).
const STAGES = [
  'biencoder',
  'eval-biencoder',
  'gan',
  'generate',
  'finetune',
  'eval-finetune',
  'biencoder-hard',
  'generate-hard',
  'finetune-hard',
  'eval-final',
];
let data: Awaited<ReturnType<typeof smallDataset>>;
let out: string, configFile: string;

beforeAll(async () => {
  data = await smallDataset({ train: 48, val: 8, test: 16 });
  out = tmp('biofeg-pipeline-');
  configFile = join(out, 'config.json');
  writeFileSync(configFile, JSON.stringify(tinyPipelineConfig(data, join(out, 'run'))));
}, 60_000);
afterAll(cleanup);

describe('biofeg pipeline', () => {
  it('runs every stage with done-markers, and a rerun skips the finished ones', async () => {
    const lines: string[] = [];
    const events: string[] = [];
    const onProgress = (e: ProgressEvent): void => {
      if (e.type === 'message') lines.push(e.text);
      if (e.type === 'stage')
        events.push(
          e.status === 'start' ? `start ${e.index}/${e.total} ${e.stage}` : `end ${e.stage}${e.status === 'skipped' ? ' skipped' : ''}`,
        );
    };
    const r = await runPipeline(readPipelineConfig(configFile), { onProgress });
    expect(r.stages.map((s) => s.stage)).toEqual(STAGES);
    expect(events).toEqual(STAGES.flatMap((s, i) => [`start ${i}/${STAGES.length} ${s}`, `end ${s}`]));
    expect(lines).toContain(`[1/${STAGES.length}] biencoder`);
    expect(r.stages.every((s) => !s.skipped)).toBe(true);
    const run = join(out, 'run');
    for (const s of STAGES) expect(existsSync(join(run, s, DONE_FILE))).toBe(true);
    expect(statSync(join(run, 'gan', 'epoch_1')).isFile()).toBe(true); // the original's single torch.save file
    expect(existsSync(join(run, 'gan', 'epoch_0'))).toBe(false);
    expect(readCandidateFile(join(run, 'generate', 'candidates_50', 'generate.topk')).header.featureDim).toBe(128);
    expect(readCandidateFile(join(run, 'generate-hard', 'candidates_80', 'generate.topk')).header.topK).toBe(4);
    expect(existsSync(join(run, 'eval-finetune', 'candidates', 'top4_candidates', 'train.topk'))).toBe(true);
    for (const s of ['biencoder', 'finetune', 'biencoder-hard', 'finetune-hard'])
      expect(existsSync(join(run, s, 'model.safetensors'))).toBe(true);
    const final = JSON.parse(readFileSync(join(run, 'eval-final', DONE_FILE), 'utf8')) as {
      result: { modes: Array<{ mode: string; total: number }> };
    };
    expect(final.result.modes.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
    expect(final.result.modes[0]!.total).toBe(final.result.modes[1]!.total + final.result.modes[2]!.total);

    const skippedEvents: string[] = [];
    const again = await runPipeline(readPipelineConfig(configFile), {
      onProgress: (e) => {
        if (e.type === 'stage') skippedEvents.push(`${e.stage}${e.status === 'skipped' ? ' skipped' : ''}`);
      },
    });
    expect(again.stages.every((s) => s.skipped)).toBe(true);
    expect(skippedEvents).toEqual(STAGES.map((s) => `${s} skipped`));

    // Without the last stage's marker only that stage runs again.
    rmSync(join(run, 'eval-final', DONE_FILE));
    const third = await runPipeline(readPipelineConfig(configFile));
    // The command prints every eval stage's table, also for the stages that were skipped.
    const { stdout } = await runCli(register, 'pipeline', ['--config', configFile, '--silent']);
    expect(stdout).toMatch(/eval-biencoder \(finished before\):\nmode +mentions +r@1/);
    expect(stdout).toMatch(/eval-final \(finished before\):\nmode/);
    expect(third.stages.filter((s) => !s.skipped).map((s) => s.stage)).toEqual(['eval-final']);

    // A changed setting reruns its stage and everything after it; progress flags (silent, threads) do not.
    const raw = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    raw['finetune_hard']!['learning_rate'] = 5e-5;
    (raw as Record<string, unknown>)['threads'] = 1;
    const changed: string[] = [];
    const fourth = await runPipeline(parsePipelineConfig(raw, 'changed.json'), {
      onProgress: (e) => {
        if (e.type === 'message') changed.push(e.text);
      },
    });
    expect(fourth.stages.filter((s) => !s.skipped).map((s) => s.stage)).toEqual(['finetune-hard', 'eval-final']);
    expect(changed.join('\n')).toMatch(/\[9\/10\] finetune-hard: settings changed since it finished/);
  }, 300_000);

  it('stage fingerprints: sorted keys, paths relative to the run folder, progress flags left out', () => {
    const a = stageFingerprint('/r/run', {
      learningRate: 1e-5,
      pathToModel: '/r/run/biencoder',
      device: 'cpu',
      threads: 2,
      outputPath: '/r/run/x',
    });
    const b = stageFingerprint('/elsewhere', { pathToModel: '/elsewhere/biencoder', learningRate: 1e-5, device: 'cuda' });
    expect(a).toBe(b);
    expect(a).toBe('{"learningRate":0.00001,"pathToModel":"<output_path>/biencoder"}');
    expect(stageFingerprint('/r', { learningRate: 2e-5 })).not.toBe(stageFingerprint('/r', { learningRate: 1e-5 }));
  });

  it('rejects unknown keys and missing paths with the key named', () => {
    expect(() => parsePipelineConfig({ output_path: 'x' }, 'c.json')).toThrow(/c\.json: "data_path" \(a string\) is required/);
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'x', epochs: 3 }, 'c.json')).toThrow(/unknown key "epochs"/);
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'x', gan: { epochz: 1 } }, 'c.json')).toThrow(
      /"gan\.epochz" is not a setting/,
    );
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'x', finetune: { path_to_model: 'm' } }, 'c.json')).toThrow(
      /may not set/,
    );
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'x', eval_untrained: 'yes' }, 'c.json')).toThrow(
      /"eval_untrained" must be true or false/,
    );
    expect(() => parsePipelineConfig({ data_path: 'd', output_path: 'x', gan: { epochz: 1 } }, 'c.json')).toThrow(SettingsError);
  });

  it("checks every stage's settings before the first stage runs, naming the section and field", async () => {
    const out = tmp('biofeg-pipeline-bad-');
    const bad = parsePipelineConfig(
      {
        data_path: data.processed,
        output_path: out,
        bert_model: 'tiny',
        device: 'cpu',
        finetune_hard: { learning_rate: 'fast' },
        biencoder: { critic_iters: 2 },
      },
      'bad.json',
    );
    await expect(runPipeline(bad)).rejects.toMatchObject({ code: 'ERR_BIOFEG_SETTINGS', field: 'biencoder.criticIters' });
    const bad2 = parsePipelineConfig(
      { data_path: data.processed, output_path: out, bert_model: 'tiny', device: 'cpu', finetune_hard: { learning_rate: 'fast' } },
      'bad.json',
    );
    await expect(runPipeline(bad2)).rejects.toThrow(/finetune: learningRate \(--learning_rate\) must be a finite number, got "fast"/);
    expect(existsSync(join(out, 'biencoder'))).toBe(false);
  });

  it('eval_untrained adds stage 0, hard_round false stops after eval-finetune', () => {
    expect(pipelineStageNames(parsePipelineConfig({ data_path: 'd', output_path: 'x' }, 'c.json'))).toEqual(STAGES);
    expect(
      pipelineStageNames(parsePipelineConfig({ data_path: 'd', output_path: 'x', eval_untrained: true, hard_round: false }, 'c.json')),
    ).toEqual(['eval-untrained', ...STAGES.slice(0, 6)]);
    expect([...DEFAULT_STAGES]).toEqual(STAGES);
    expect(pipelineStageNames(parsePipelineConfig({ data_path: 'd', output_path: 'x', crossencoder: true }, 'c.json'))).toEqual([
      ...STAGES,
      'cross-candidates',
      'crossencoder',
      'eval-crossencoder',
    ]);
    expect([...CROSS_STAGES]).toEqual(['cross-candidates', 'crossencoder', 'eval-crossencoder']);
  });
});
