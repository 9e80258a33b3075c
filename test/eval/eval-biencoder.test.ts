// `biofeg eval-biencoder` end to end on a small subset of the built-in dataset with a tiny random
// BERT saved as an HF folder: the original's snake_case flags, the JSON report, per-mode candidate
// files with the missing-gold rule, the entity-encoding cache on a second run, and argument errors.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveHfFolder } from '../../src/checkpoint/hf-folder.js';
import { register } from '../../src/cli/commands/eval-biencoder.js';
import { evaluateBiencoder } from '../../src/index.js';
import { readCandidateFile } from '../../src/eval/candidates.js';
import { encodeEntityPool } from '../../src/eval/entity-pool.js';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { recallReport } from '../../src/eval/recall.js';
import { retrieve } from '../../src/eval/retrieve.js';
import { saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { TINY, VOCAB, DEFAULT, caches, cleanup, smallDataset, tinyModel, tmp } from './retrieve-helpers.js';
import { runCli } from '../support/cli.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let hfDir: string;

beforeAll(async () => {
  data = await smallDataset({ train: 40, val: 10, test: 30 });
  hfDir = tmp('biofeg-hf-');
  const m = tinyModel(3);
  saveHfFolder(
    hfDir,
    {
      vocab_size: TINY.vocabSize,
      hidden_size: TINY.hiddenSize,
      num_hidden_layers: TINY.numLayers,
      num_attention_heads: TINY.numHeads,
      intermediate_size: TINY.intermediateSize,
      max_position_embeddings: TINY.maxPositions,
      layer_norm_eps: TINY.layerNormEps,
    },
    m.context.bert.exportWeights(),
    {
      extraFiles: {
        'vocab.txt': readFileSync(VOCAB, 'utf8'),
        'tokenizer_config.json': readFileSync(join(DEFAULT, 'tokenizer_config.json'), 'utf8'),
      },
    },
  );
});
afterAll(cleanup);

const cli = (args: string[]) => runCli(register, 'eval-biencoder', args);

describe('biofeg eval-biencoder', () => {
  it('runs every mode from the original flags, writes the report and the candidate files, reuses the entity encodings', async () => {
    const out = tmp('biofeg-evalout-');
    const args = [
      '--data_path',
      data.processed,
      '--output_path',
      out,
      '--bert_model',
      hfDir,
      '--entity_dict_path',
      data.entities,
      '--mode',
      'train,valid,test,test_seen,test_unseen',
      '--top_k',
      '8',
      '--max_context_length',
      '32',
      '--max_cand_length',
      '48',
      '--eval_batch_size',
      '4',
      '--encode_batch_size',
      '64',
      '--save_topk_result',
      '--silent',
      '--no_cuda',
      '--threads',
      '2',
      '--workers',
      '0',
    ];
    const { stdout, stderr } = await cli(args);
    const report = JSON.parse(readFileSync(join(out, 'eval_report.json'), 'utf8')) as EvalReport;
    expect(report.modes.map((m) => m.mode)).toEqual(['train', 'valid', 'test', 'test_seen', 'test_unseen']);
    expect(report.modes.map((m) => m.recall.total)).toEqual([40, 10, 30, expect.any(Number), expect.any(Number)]);
    expect(report.modes[3]!.recall.total + report.modes[4]!.recall.total).toBe(30);
    expect(report.entities).toBe(439);
    expect(report.entityPool.fromCache).toBe(false);
    expect(report.modes[0]!.recall.ks).toEqual([1, 4, 8]);
    expect(stdout).toBe(report.table);
    expect(stdout).toMatch(/^mode +mentions +r@1 +r@4 +r@8\n/);
    expect(stderr).toMatch(/test: Total: 30 examples\. r@1: \d\.\d{4} r@4: \d\.\d{4} r@8: \d\.\d{4}/);

    // Candidate files: train keeps every mention (gold inserted), the others drop the misses.
    const dir = join(out, 'top8_candidates');
    expect(readdirSync(dir).sort()).toEqual(['test.topk', 'test_seen.topk', 'test_unseen.topk', 'train.topk', 'val.topk']);
    for (const m of report.modes) {
      const f = readCandidateFile(m.candidateFile!);
      const hits = m.recall.hits['8']!;
      expect(f.header.totalMentions).toBe(m.recall.total);
      expect(f.header.topK).toBe(8);
      if (m.mode === 'train') {
        expect(f.header.missingGold).toBe('insert');
        expect(f.header.count).toBe(m.recall.total);
        expect(f.header.inserted).toBe(m.recall.total - hits);
      } else {
        expect(f.header.missingGold).toBe('drop');
        expect(f.header.count).toBe(hits);
      }
      expect(f.header.source?.entityPoolHash).toBe(report.entityPool.hash);
    }
    expect(readdirSync(out).filter((f) => f.startsWith('entity_embeddings.'))).toEqual([
      `entity_embeddings.${report.entityPool.hash.slice(0, 16)}.f32`,
    ]);

    // Second run: the entity encodings come from disk and every number is the same.
    await cli(args);
    const again = JSON.parse(readFileSync(join(out, 'eval_report.json'), 'utf8')) as EvalReport;
    expect(again.entityPool.fromCache).toBe(true);
    expect(again.modes.map((m) => m.recall)).toEqual(report.modes.map((m) => m.recall));
  });

  it('random-initialises a built-in size with the default vocab', async () => {
    const out = tmp('biofeg-evalout-');
    const res = await evaluateBiencoder({
      dataPath: data.processed,
      outputPath: out,
      bertModel: 'tiny',
      encodeBatchSize: 128,
      evalBatchSize: 16,
      topK: 4,
      maxContextLength: 32,
      maxCandLength: 32,
      modes: ['test'],
      addLinear: true,
      outDim: 24,
      seed: 5,
      device: 'cpu',
      poolDtype: 'f32',
      workers: 0,
    });
    const r = JSON.parse(readFileSync(res.reportPath, 'utf8')) as EvalReport;
    expect(res.modes[0]!.total).toBe(30);
    expect(r.embedDim).toBe(24);
    expect(r.modes[0]!.recall.total).toBe(30);
    expect(r.model).toMatchObject({ bertModel: 'tiny', init: 'random (seed 5)' });
    expect(existsSync(join(out, 'top4_candidates'))).toBe(false);
  });

  it('evaluates a saved bi-encoder checkpoint (--path_to_model) exactly as the in-memory model retrieves', async () => {
    // Pooler on: the checkpoint's config.json does not record a pooler-less BERT (the lead's format).
    const m = tinyModel(21, { config: { ...TINY, pooler: true } });
    const ck = join(tmp('biofeg-ck-'), 'model');
    await saveBiEncoder(ck, m, { settings: { addLinear: false, outDim: 1 }, vocabPath: VOCAB, torchBin: false });
    const out = tmp('biofeg-evalout-');
    await cli([
      '--data_path',
      data.processed,
      '--output_path',
      out,
      '--path_to_model',
      ck,
      '--entity_dict_path',
      data.entities,
      '--mode',
      'test',
      '--top_k',
      '16',
      '--max_context_length',
      '32',
      '--max_cand_length',
      '48',
      '--silent',
      '--no_cuda',
      '--workers',
      '0',
    ]);
    const report = JSON.parse(readFileSync(join(out, 'eval_report.json'), 'utf8')) as EvalReport;
    const c = await caches(data.processed, data.entities, 'test', 32, 48);
    try {
      const pool = await encodeEntityPool(m, c.entities, { batchSize: 8 });
      const res = await retrieve(m, c.mentions, pool, { topK: 16, batchSize: 8 });
      expect(report.entityPool.hash).toBe(pool.hash);
      pool.dispose();
      expect(report.modes[0]!.recall).toEqual(recallReport('test', 16, res.positions));
    } finally {
      c.mentions.close();
      c.entities.close();
    }
  });

  it('says what is wrong with bad arguments', async () => {
    const out = tmp('biofeg-evalout-');
    const base = [
      '--data_path',
      data.processed,
      '--output_path',
      out,
      '--bert_model',
      hfDir,
      '--entity_dict_path',
      data.entities,
      '--silent',
      '--no_cuda',
      '--workers',
      '0',
    ];
    await expect(cli([...base, '--mode', 'test,dev2'])).rejects.toThrow(
      /modes \(--mode\) must be an array of train, valid, val, dev, test, test_seen, test_unseen, got \["test","dev2"\]/,
    );
    await expect(cli([...base, '--top_k', '500', '--mode', 'test'])).rejects.toThrow(/top_k 500 exceeds the number of entities \(439\)/);
    await expect(
      cli(['--data_path', data.processed, '--bert_model', 'nope', '--output_path', out, '--silent', '--no_cuda']),
    ).rejects.toThrow(/nope/);
    expect(existsSync(join(out, 'eval_report.json'))).toBe(false);
  });
});
