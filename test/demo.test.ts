// `biofeg demo` runs the schedule through the pipeline runner (the code path of `biofeg
// pipeline --config`): every stage leaves its DONE.json marker, the config is saved as
// <output>/pipeline.json, a rerun skips every finished stage and still prints the tables, and a
// removed marker reruns that stage only. Every evaluation reports all / seen / unseen recall.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { DEMO_DEFAULTS, runDemo, type DemoOptions } from '../src/cli/commands/demo.js';
import { parsePipelineConfig, pipelineStageNames, readPipelineConfig } from '../src/index.js';
import { readGanFile } from '../src/train/gan-checkpoint.js';
import { DONE_FILE } from '../src/train/pipeline-state.js';

// Spelled out (not built from the module's constants, which would make the checks below tautologies).
const STAGES = [
  'eval-untrained',
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
  'cross-candidates',
  'crossencoder',
  'eval-crossencoder',
];

describe('biofeg demo', () => {
  const out = mkdtempSync(join(tmpdir(), 'biofeg-demo-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const opts: DemoOptions = {
    ...DEMO_DEFAULTS,
    output: out,
    epochs: 1,
    ganEpochs: 1,
    finetuneEpochs: 1,
    crossEpochs: 1,
    hardTopK: 4,
    maxLength: 16,
    silent: true,
  };

  it('runs every pipeline stage with DONE markers and reports all / seen / unseen recall', async () => {
    const lines: string[] = [];
    const r = await runDemo(opts, (s) => lines.push(s));
    expect(r.pipeline.stages.map((s) => s.stage)).toEqual(STAGES);
    expect(r.pipeline.stages.every((s) => !s.skipped)).toBe(true);
    for (const s of STAGES) expect(existsSync(join(out, s, DONE_FILE))).toBe(true);
    // The saved config is the one the runner ran: `biofeg pipeline --config` reads it back.
    const cfg = readPipelineConfig(r.configPath);
    expect(pipelineStageNames(cfg)).toEqual(STAGES);
    expect(cfg).toEqual(parsePipelineConfig(JSON.parse(readFileSync(r.configPath, 'utf8')), r.configPath));
    for (const rep of [r.untrained, r.inBatch, r.gan, r.hard]) {
      expect(rep.modes.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
      const [all, seen, unseen] = rep.modes;
      // test = test_seen + test_unseen, so its hits are theirs combined.
      expect(all!.total).toBe(seen!.total + unseen!.total);
      const hits = (x: typeof all) => Math.round(x!.recall['64']! * x!.total);
      expect(hits(all)).toBe(hits(seen) + hits(unseen));
    }
    expect(existsSync(join(out, 'biencoder', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'biencoder-hard', 'pytorch_model.bin'))).toBe(true);
    expect(existsSync(join(out, 'eval-finetune', 'candidates', 'top4_candidates', 'train.topk'))).toBe(true);
    // The GAN checkpoint: one torch.save file, as the original's.
    expect(statSync(join(out, 'gan', 'epoch_0')).isFile()).toBe(true);
    expect(readGanFile(join(out, 'gan', 'epoch_0')).meta.epoch).toBe(0);
    expect(existsSync(join(out, 'generate', 'candidates_50', 'generate.topk'))).toBe(true);
    expect(existsSync(join(out, 'generate-hard', 'candidates_80', 'generate.topk'))).toBe(true);
    expect(existsSync(join(out, 'finetune-hard', 'model.safetensors'))).toBe(true);
    const text = lines.join('\n');
    expect(text).toMatch(/\[1\/14\] eval-untrained\n/);
    expect(text).toMatch(/GAN fine-tuning, test_unseen recall@1 \/ @64: \d\.\d{4} \/ \d\.\d{4} -> \d\.\d{4} \/ \d\.\d{4}/);
    expect(text).toMatch(/recall@64 +all +seen +unseen\nuntrained +\d\.\d{4}/);
    expect(text).toMatch(/after GAN fine-tuning:\nmode +mentions +r@1/);
    // The cross-encoder reranks the final top 4: its table, one row per eval mode.
    expect(existsSync(join(out, 'cross-candidates', 'top4_candidates', 'train.topk'))).toBe(true);
    expect(text).toMatch(/cross-encoder reranking the final bi-encoder's top 4 .*:\nmode +mentions +scored +cross norm/);
    expect(
      r.cross?.table
        .trim()
        .split('\n')
        .slice(2)
        .map((l) => l.split(/ +/)[0]),
    ).toEqual(['test', 'test_seen', 'test_unseen']);
  }, 600_000);

  it('a rerun skips the finished stages (and still prints the tables); a removed marker reruns that stage only', async () => {
    const lines: string[] = [];
    const again = await runDemo(opts, (s) => lines.push(s));
    expect(again.pipeline.stages.every((s) => s.skipped)).toBe(true);
    const text = lines.join('\n');
    expect(text).toMatch(/prepare: done .*skipped/);
    expect(text).toMatch(/\[4\/14\] gan: done .*skipped/);
    expect(text).toMatch(/GAN fine-tuning, test_seen recall@1 \/ @64: \d\.\d{4} \/ \d\.\d{4} -> \d\.\d{4} \/ \d\.\d{4}/);
    expect(text).toMatch(/0 of 14 stages run/);
    expect(text).toMatch(/cross-encoder reranking/);

    rmSync(join(out, 'eval-crossencoder', DONE_FILE));
    const third = await runDemo(opts, () => undefined);
    expect(third.pipeline.stages.filter((s) => !s.skipped).map((s) => s.stage)).toEqual(['eval-crossencoder']);
    expect(third.hard.modes[0]!.total).toBe(again.hard.modes[0]!.total);
    expect(third.cross?.table).toBe(again.cross?.table);
  }, 300_000);
});
