// Issue 22's study in miniature (scripts/real-data.sh at a tiny size on a subset of the built-in
// data): a pretrain-synonyms BERT evaluated zero-shot with --path_to_model through the library
// (the same recall as --bert_model: both encoders start from it), a pipeline through GAN
// fine-tuning read by the diagnosis (GAN curves, unseen recall per round, generated vs real
// features), and the table reader over seed folders of those eval stages and of hand-made ones.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allConcepts } from '../../data/default/src/concepts.js';
import { register as registerEval } from '../../src/cli/commands/eval-biencoder.js';
import { evaluateBiencoder, parsePipelineConfig, pretrainSynonyms, runPipeline } from '../../src/index.js';
import type { EvalMode } from '../../src/settings/types.js';
import { summariseRun } from '../../src/report/gan-summary.js';
import { formatStudy, readStudy, spreadOf } from '../../src/report/study-table.js';
import { diagnoseGanFeatures } from '../../src/stages/gan-diagnosis.js';
import { isPlainBertFolder } from '../../src/train/hf-bert-checkpoint.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { runCli } from '../support/cli.js';
import { tinyPipelineConfig } from '../support/pipeline-config.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let work: string, sap: string, run: string;

beforeAll(async () => {
  data = await smallDataset({ train: 48, val: 8, test: 16 });
  work = tmp('biofeg-real-data-');
  const kb = join(work, 'kb.jsonl');
  writeFileSync(
    kb,
    allConcepts()
      .slice(0, 48)
      .map((c) => JSON.stringify({ id: c.id, name: c.name, synonyms: [...c.synonyms, ...c.abbreviations] }))
      .join('\n') + '\n',
  );
  sap = join(work, 'sap');
  await pretrainSynonyms({
    kb,
    outputPath: sap,
    bertModel: 'tiny',
    dropout: 0,
    trainBatchSize: 16,
    epochs: 1,
    learningRate: 1e-3,
    maxLength: 16,
    device: 'cpu',
    seed: 3,
  });
  run = join(work, 'run');
  mkdirSync(run);
  // The pipeline from the pretrained BERT, through GAN fine-tuning (the hard round adds nothing to read here).
  const cfg = tinyPipelineConfig(data, run, { bert_model: sap, hard_round: false, eval: { mode: 'test,test_seen,test_unseen' } });
  writeFileSync(join(run, 'pipeline.json'), JSON.stringify(cfg));
  await runPipeline(parsePipelineConfig(cfg, 'pipeline.json'));
}, 120_000);
afterAll(cleanup);

describe('zero-shot: a pretrain-synonyms folder as --path_to_model', () => {
  it('is taken as an HF BERT for both encoders: the recall of --bert_model, not an error', async () => {
    expect(isPlainBertFolder(sap)).toBe(true);
    expect(isPlainBertFolder(join(run, 'biencoder'))).toBe(false); // our bi-encoder checkpoint
    // The original's checkpoint folder: an HF config without our record, bi-encoder weight names.
    const blink = join(work, 'blink');
    mkdirSync(blink);
    cpSync(join(run, 'biencoder', 'pytorch_model.bin'), join(blink, 'pytorch_model.bin'));
    const { biofeg: _ours, ...hfConfig } = JSON.parse(readFileSync(join(run, 'biencoder', 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    writeFileSync(join(blink, 'config.json'), JSON.stringify(hfConfig));
    expect(isPlainBertFolder(blink)).toBe(false);
    const common = {
      dataPath: data.processed,
      entityDictPath: data.entities,
      modes: ['test', 'test_unseen'] as EvalMode[],
      maxContextLength: 32,
      maxCandLength: 32,
      device: 'cpu' as const,
    };
    const a = await evaluateBiencoder({ ...common, pathToModel: sap, outputPath: join(work, 'zs-path') });
    const b = await evaluateBiencoder({ ...common, bertModel: sap, outputPath: join(work, 'zs-bert') });
    expect(a.modes.map((m) => m.recall)).toEqual(b.modes.map((m) => m.recall));
    expect(a.modes[0]!.total).toBe(16);
    const report = JSON.parse(readFileSync(a.reportPath, 'utf8')) as { model: Record<string, string> };
    expect(report.model['pathToModel']).toContain('sap');
  });
});

describe('eval-biencoder (CLI) on a trained checkpoint', () => {
  it("uses the checkpoint's recorded windows unless given (the flags' defaults overrode them)", async () => {
    const args = [
      '--path_to_model',
      join(run, 'biencoder'),
      '--data_path',
      data.processed,
      '--entity_dict_path',
      data.entities,
      '--mode',
      'test',
      '--device',
      'cpu',
      '--silent',
    ];
    const settingsOf = (out: string) =>
      (JSON.parse(readFileSync(join(out, 'eval_report.json'), 'utf8')) as { settings: Record<string, number> }).settings;
    await runCli(registerEval, 'eval-biencoder', [...args, '--output_path', join(work, 'cli-recorded')]);
    expect(settingsOf(join(work, 'cli-recorded'))).toMatchObject({ maxContextLength: 32, maxCandLength: 48 });
    await runCli(registerEval, 'eval-biencoder', [...args, '--output_path', join(work, 'cli-given'), '--max_cand_length', '40']);
    expect(settingsOf(join(work, 'cli-given'))).toMatchObject({ maxContextLength: 32, maxCandLength: 40 });
  });
});

describe('GAN diagnosis of a run', () => {
  it('reads the GAN curves and the unseen recall before and after fine-tuning from the files', () => {
    const s = summariseRun(run);
    expect(s.gan?.epochs).toBe(2);
    expect(s.gan?.disc.first).not.toBeNull();
    expect(s.rounds.map((r) => r.stage)).toEqual(['eval-biencoder', 'eval-finetune']);
    const recall = (stage: string, k: string) => {
      const r = JSON.parse(readFileSync(join(run, stage, 'eval_report.json'), 'utf8')) as {
        modes: Array<{ mode: string; recall: { recall: Record<string, number> } }>;
      };
      return r.modes.find((m) => m.mode === 'test_unseen')!.recall.recall[k]!;
    };
    expect(s.unseenGain['8']).toBeCloseTo(recall('eval-finetune', '8') - recall('eval-biencoder', '8'), 12);
  });

  it("compares G's features of seen entities with the frozen bi-encoder's mention features", async () => {
    const d = await diagnoseGanFeatures({ runDir: run, draws: 3 });
    expect(d.entities).toBeGreaterThan(5);
    expect(d.generatedRows).toBe(3 * d.entities);
    expect(d.realRows).toBe(48);
    for (const v of [d.realMeanNorm, d.generatedMeanNorm]) expect(v).toBeGreaterThan(0);
    for (const v of [d.generatedToOwn, d.generatedToOthers, d.realToOwn, d.realToOthers]) expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-6);
    expect(d.generatedNearestOwn).toBeGreaterThanOrEqual(0);
    expect(d.generatedNearestOwn).toBeLessThanOrEqual(1);
  });
});

/** An eval_report.json as eval-biencoder writes it, with the given recall of every mode. */
function evalReport(dir: string, r: Record<string, Record<string, number>>): void {
  mkdirSync(dir, { recursive: true });
  const modes = Object.entries(r).map(([mode, recall]) => ({ mode, recall: { mode, total: 10, topK: 64, recall } }));
  writeFileSync(join(dir, 'eval_report.json'), JSON.stringify({ format: 'biofeg-eval-report', version: 1, modes }));
  writeFileSync(join(dir, 'DONE.json'), JSON.stringify({ stage: 'eval', seconds: 2, result: {} }));
}

describe('the study table', () => {
  it('mean ± sample std over seeds of every stage row; the cross-encoder row is its accuracy at r@1', () => {
    const root = join(work, 'study');
    const at = (x: number) => ({ '1': x, '8': x + 0.1, '64': x + 0.2 });
    for (const [seed, x] of [
      [1, 0.1],
      [2, 0.3],
    ] as const) {
      const dir = join(root, 'toy', `seed${seed}`);
      evalReport(join(dir, 'eval-random'), { test: at(x), test_seen: at(x), test_unseen: at(x / 2) });
      mkdirSync(join(dir, 'eval-crossencoder'), { recursive: true });
      writeFileSync(
        join(dir, 'eval-crossencoder', 'eval_report.json'),
        JSON.stringify({
          modes: [{ mode: 'test_unseen', mentions: 10, normalizedAccuracy: 0.5, unnormalizedAccuracy: x, recallAtK: 0.4 }],
        }),
      );
    }
    // A corpus folder whose seed holds the miniature run's own eval stages.
    for (const s of ['eval-biencoder', 'eval-finetune']) cpSync(join(run, s), join(root, 'mini', 'seed1', s), { recursive: true });

    const study = readStudy(root);
    expect(study.map((c) => c.corpus)).toEqual(['mini', 'toy']);
    const toy = study[1]!;
    const random = toy.rows.find((r) => r.stage === 'eval-random')!;
    expect(random.cells['test']!['8']).toMatchObject({ n: 2, min: 0.2, max: 0.4 });
    expect(random.cells['test']!['8']!.mean).toBeCloseTo(0.3, 12);
    expect(random.cells['test']!['8']!.std).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    const cross = toy.rows.find((r) => r.stage === 'eval-crossencoder')!;
    expect(cross.cells['test_unseen']!['1']!.mean).toBeCloseTo(0.2, 12);
    expect(cross.cells['test_unseen']!['8']).toBeNull();
    expect(toy.missing).toContain('seed1/eval-final: not run');
    const mini = study[0]!.rows.find((r) => r.stage === 'eval-finetune')!;
    expect(mini.cells['test_unseen']!['8']!.mean).toBeCloseTo(summariseRun(run).rounds[1]!.recall['test_unseen']!['8']!, 12);
    expect(mini.cells['test_unseen']!['64']).toBeNull(); // the miniature's top_k is 16

    const md = formatStudy(study);
    expect(md).toContain('| untrained (random BERT) | 0.200 ± 0.141 | 0.300 ± 0.141 | 0.400 ± 0.141 | 0.200 ± 0.141 |');
    expect(md).toContain('### toy (2 seeds: seed1, seed2; mean ± std');
    expect(() => readStudy(join(work, 'nothing'))).toThrow(/no such folder/);
  });

  it('spreadOf: one value has std 0, none gives null', () => {
    expect(spreadOf([0.5])).toEqual({ mean: 0.5, std: 0, min: 0.5, max: 0.5, n: 1 });
    expect(spreadOf([])).toBeNull();
  });
});
