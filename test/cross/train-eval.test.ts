// The cross-encoder end to end on a slice of the built-in dataset: eval-biencoder writes the top-k
// candidate files, train-cross trains on them (golds inserted into train dropped), eval-cross
// reports normalized / unnormalized accuracy with the bi-encoder's on the same mentions; bad
// inputs are errors naming the file, with nothing written.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readTorchCheckpoint } from '../../src/checkpoint/index.js';
import { register as registerEval } from '../../src/cli/commands/eval-cross.js';
import { register as registerTrain } from '../../src/cli/commands/train-cross.js';
import { decodeCandidateFile, encodeCandidateFile, readCandidateFile } from '../../src/eval/candidates.js';
import { evaluateBiencoder, evaluateCrossencoder, trainCrossencoder } from '../../src/index.js';
import { pairInputs } from '../../src/data/cross-inputs.js';
import type { CrossModeReport } from '../../src/stages/evaluate-cross.js';
import { CheckpointError } from '../../src/checkpoint/types.js';
import type { CrossEncoder } from '../../src/models/crossencoder.js';
import { crossStateDict, openCrossEncoder, saveCrossEncoder } from '../../src/train/cross-checkpoint.js';
import { openTopk } from '../../src/train/cross-data.js';
import { readCrossTrainerState, trainCrossEncoder } from '../../src/train/cross-train.js';
import { InterruptedError, InterruptFlag } from '../../src/train/interrupt.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import type { TrainSettings } from '../../src/train/train-biencoder.js';
import { runCli } from '../support/cli.js';
import { expectTwoEpochRun } from '../support/run-files.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';

let cands: string;
let biTest: { total: number; recall: Record<string, number | null> };

beforeAll(async () => {
  const data = await smallDataset({ train: 40, val: 12, test: 30 });
  const out = tmp('biofeg-cross-bi-');
  const r = await evaluateBiencoder({
    dataPath: data.processed,
    outputPath: out,
    bertModel: 'tiny',
    seed: 11,
    topK: 8,
    modes: ['train', 'valid', 'test'],
    saveTopkResult: true,
    maxContextLength: 24,
    maxCandLength: 24,
    device: 'cpu',
    workers: 0,
    encodeBatchSize: 64,
    evalBatchSize: 16,
  });
  cands = join(out, 'top8_candidates');
  biTest = r.modes.find((m) => m.mode === 'test')!;
}, 120_000);
afterAll(cleanup);

const common = (out: string) => [
  '--data_path',
  cands,
  '--output_path',
  out,
  '--max_context_length',
  '24',
  '--max_seq_length',
  '47',
  '--device',
  'cpu',
  '--silent',
];

describe('cross-encoder: train-cross and eval-cross', () => {
  it('drops the train mentions whose gold the bi-encoder did not retrieve (listed in the file)', () => {
    const f = readCandidateFile(join(cands, 'train.topk'));
    expect(f.header.missingGold).toBe('insert');
    expect(f.header.inserted).toBeGreaterThan(0);
    expect(f.header.insertedRows).toHaveLength(f.header.inserted);
    const s = openTopk(join(cands, 'train.topk'));
    expect(s.count).toBe(f.header.count - f.header.inserted);
    expect([s.ctxLen, s.candLen, s.k]).toEqual([24, 24, 8]);
    s.close();
  });

  it('trains (epoch folders, the best at the root under CrossEncoderModule names) and evaluates', async () => {
    const out = tmp('biofeg-cross-train-');
    await runCli(registerTrain, 'train-cross', [
      ...common(out),
      '--bert_model',
      'tiny',
      '--num_train_epochs',
      '2',
      '--train_batch_size',
      '4',
      '--eval_batch_size',
      '4',
      '--learning_rate',
      '1e-4',
      '--type_optimization',
      'all',
      '--max_pairs_per_batch',
      '12',
    ]);
    expectTwoEpochRun(out);
    const names = [...readTorchCheckpoint(join(out, 'pytorch_model.bin')).keys()];
    expect(names[0]).toBe('encoder.bert_model.embeddings.word_embeddings.weight');
    expect(names.slice(-2)).toEqual(['encoder.additional_linear.weight', 'encoder.additional_linear.bias']);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { biofeg: { model: string; cross: Record<string, number> } };
    expect(cfg.biofeg.model).toBe('crossencoder');
    expect(cfg.biofeg.cross).toMatchObject({ max_context_length: 24, max_cand_length: 24, max_seq_length: 47 });
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; loss?: number; sequencesPerSecond?: number });
    expect(log.filter((l) => l.event === 'epoch')).toHaveLength(2);
    // Metric lines for reports, with the loss of the updates since the previous one.
    const steps = log.filter((l) => l.event === 'step');
    expect(steps.length).toBeGreaterThan(2);
    expect(steps.every((l) => Number.isFinite(l.loss) && (l.sequencesPerSecond ?? 0) > 0)).toBe(true);

    const evalOut = tmp('biofeg-cross-eval-');
    const { stdout } = await runCli(registerEval, 'eval-cross', [...common(evalOut), '--path_to_model', out, '--mode', 'test,valid']);
    expect(stdout).toMatch(/cross norm/);
    const rep = JSON.parse(readFileSync(join(evalOut, 'eval_report.json'), 'utf8')) as { modes: CrossModeReport[] };
    const t = rep.modes[0]!;
    const file = readCandidateFile(join(cands, 'test.topk'));
    expect(t.mentions).toBe(biTest.total);
    expect(t.scored).toBe(file.header.count);
    expect(t.normalizedAccuracy).toBeCloseTo(t.hits / t.scored, 12);
    expect(t.unnormalizedAccuracy).toBeCloseTo(t.hits / biTest.total, 12);
    expect(t.recallAtK).toBeCloseTo(biTest.recall['8']!, 12);
    // The bi-encoder's first candidate: its recall@1 over all mentions.
    expect(t.biencoderUnnormalizedAccuracy).toBeCloseTo(biTest.recall['1']!, 12);
    // The hit count from scores computed here, one mention at a time with untrimmed pairs, not by
    // eval-cross's batched scoring.
    const ck = openCrossEncoder({ device: 'cpu', pathToModel: out }).model;
    const src = openTopk(join(cands, 'test.topk'));
    let hits = 0;
    for (let i = 0; i < src.count; i++) {
      const { contexts, candidates } = src.read([i]);
      const p = pairInputs(contexts, src.ctxLen, candidates, src.candLen, 1, src.k, {
        maxSeqLength: 47,
        maxContextLength: 24,
        trim: false,
      });
      const sc = (await ck.score({ ids: p.ids, typeIds: p.typeIds, rows: p.rows, seq: p.seq }, { dropout: false, grad: false })).download();
      let best = 0;
      for (let j = 1; j < src.k; j++) if (sc[j]! > sc[best]!) best = j;
      if (best === src.labels[i]) hits++;
    }
    src.close();
    expect(src.count).toBe(t.scored);
    expect(hits).toBe(t.hits);

    // Without the pair flags the checkpoint's windows are used: the same results.
    const again = await evaluateCrossencoder({
      dataPath: cands,
      outputPath: tmp('biofeg-cross-eval2-'),
      pathToModel: out,
      modes: ['test'],
      device: 'cpu',
    });
    expect(again.modes[0]).toEqual(t);
    const rep2 = JSON.parse(readFileSync(again.reportPath, 'utf8')) as { settings: Record<string, unknown> };
    expect(rep2.settings).toMatchObject({ maxContextLength: 24, maxSeqLength: 47 });
  }, 240_000);

  it('refuses bad inputs with the file named, writing nothing', async () => {
    const out = tmp('biofeg-cross-bad-');
    await expect(trainCrossencoder({ dataPath: cands, outputPath: out, bertModel: 'tiny', addLinear: false })).rejects.toMatchObject({
      code: 'ERR_BIOFEG_SETTINGS',
      field: 'addLinear',
    });
    await expect(trainCrossencoder({ dataPath: out, outputPath: join(out, 'x'), bertModel: 'tiny' })).rejects.toThrow(
      /no train\.topk or train\.t7/,
    );
    // A val file with another k than train's.
    const bad = tmp('biofeg-cross-badk-');
    const f = readCandidateFile(join(cands, 'val.topk'));
    const k = 4;
    const rows = { ...f.rows, goldPos: f.rows.goldPos, candidates: new Int32Array(f.header.count * k) };
    for (let r = 0; r < f.header.count; r++) {
      rows.candidates.set(f.rows.candidates.subarray(r * 8, r * 8 + k), r * k);
      rows.goldPos[r] = Math.min(rows.goldPos[r]!, k - 1);
      rows.candidates[r * k + rows.goldPos[r]!] = f.rows.gold[r]!;
    }
    const badFile = encodeCandidateFile({ header: { ...f.header, topK: k }, rows });
    decodeCandidateFile(badFile); // well-formed on its own
    writeFileSync(join(bad, 'val.topk'), badFile);
    writeFileSync(join(bad, 'train.topk'), readFileSync(join(cands, 'train.topk')));
    const o2 = join(bad, 'out');
    await expect(trainCrossencoder({ dataPath: bad, outputPath: o2, bertModel: 'tiny', device: 'cpu' })).rejects.toThrow(
      new RegExp(`${join(bad, 'val.topk')}: k 4, .*expected those of`),
    );
    expect(existsSync(join(o2, 'log.jsonl'))).toBe(false);
    // An entity id outside the dictionary, a mention outside its split: the file and row named.
    for (const [what, edit, re] of [
      ['entity', (c: { candidates: Int32Array }) => (c.candidates[5] = 99_999), /row 0: entity 99999 is outside the \d+ entities/],
      ['mention', (c: { mention: Int32Array }) => (c.mention[1] = 99_999), /row 1: mention 99999 is outside the \d+ mentions/],
    ] as const) {
      const dir = tmp(`biofeg-cross-bad-${what}-`);
      const g = readCandidateFile(join(cands, 'test.topk'));
      edit(g.rows);
      if (what === 'entity') g.rows.gold[0] = g.rows.candidates[g.rows.goldPos[0]!]!; // keep the gold check of the file itself
      const path = join(dir, 'test.topk');
      writeFileSync(path, encodeCandidateFile(g));
      expect(() => openTopk(path)).toThrow(re);
      expect(() => openTopk(path)).toThrow(new RegExp(`^${path}: `));
    }
  }, 120_000);

  it('an interrupted run resumed ends bit-identical to an uninterrupted one; a NaN loss stops it', async () => {
    const settings: TrainSettings = {
      learningRate: 1e-4,
      numTrainEpochs: 2,
      trainBatchSize: 4,
      evalBatchSize: 8,
      gradientAccumulationSteps: 2,
      warmupProportion: 0.1,
      maxGradNorm: 1,
      typeOptimization: 'all',
      seed: 5,
      printInterval: 1000,
      evalInterval: 1000,
      shuffle: true,
    };
    const model = (seed: number) => openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: 5353, seed }).model;
    const train = openTopk(join(cands, 'train.topk'));
    const val = openTopk(join(cands, 'val.topk'));
    const run = (m: CrossEncoder, out: string) => ({
      model: m,
      train,
      val,
      pairs: { maxContextLength: 24, maxSeqLength: 47 },
      outputPath: out,
    });
    const outA = tmp('biofeg-cross-a-');
    const a = model(1);
    const ra = await trainCrossEncoder(run(a, outA), settings, { log: new JsonlLogger(outA) });
    expect(ra.accuracies).toHaveLength(3);

    const outB = tmp('biofeg-cross-b-');
    const interrupt = new InterruptFlag({ notify: () => {} });
    await expect(
      trainCrossEncoder(run(model(1), outB), settings, {
        log: new JsonlLogger(outB),
        interrupt,
        progress: (epoch, done) => {
          if (epoch === 1 && done === 3) interrupt.raise('SIGINT');
        },
      }),
    ).rejects.toBeInstanceOf(InterruptedError);
    expect(readCrossTrainerState(join(outB, 'last'))).toMatchObject({ epoch: 1, microStep: 3 });
    const c = model(99); // other weights: resume must load them
    const rc = await trainCrossEncoder({ ...run(c, outB), resume: true }, settings, { log: new JsonlLogger(outB) });
    expect(rc.steps).toBe(ra.steps);
    const sa = crossStateDict(a),
      sc = crossStateDict(c);
    for (const [n, t] of sa) expect(Buffer.from(sc.get(n)!.data.buffer).equals(Buffer.from(t.data.buffer)), n).toBe(true);

    const outN = tmp('biofeg-cross-nan-');
    const poisoned = model(1);
    const w = poisoned.encoder.bert.parameters().download() as Float32Array;
    w.fill(Number.NaN, 0, 1000);
    poisoned.encoder.bert.parameters().upload(w);
    await expect(trainCrossEncoder(run(poisoned, outN), { ...settings }, { log: new JsonlLogger(outN) })).rejects.toThrow(/NaN/);
    expect(existsSync(join(outN, 'epoch_0'))).toBe(false);

    // A checkpoint of another size is refused, naming the file.
    const small = join(tmp('biofeg-cross-small-'), 'ck');
    const other = openCrossEncoder({ device: 'cpu', bertModel: 'small', vocabSize: 5353, seed: 1 }).model;
    await saveCrossEncoder(small, other, { windows: { maxContextLength: 24, maxCandLength: 24, maxSeqLength: 47 } });
    // The weights alone (no config.json beside them) with a tiny BERT asked for.
    const bare = join(tmp('biofeg-cross-bare-'), 'model.safetensors');
    copyFileSync(join(small, 'model.safetensors'), bare);
    const err = (() => {
      try {
        openCrossEncoder({ device: 'cpu', pathToModel: bare, bertModel: 'tiny', vocabSize: 5353 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/model\.safetensors: unexpected encoder\.bert_model\.encoder\.layer\.2\..*another size/);
    train.close();
    val.close();
  }, 240_000);
});
