// A cross-encoder run whose val has no mention to score: its accuracies are null (not a -1 that
// reads as a score) in the result, the log, trainer_state.json and the report; trainer states
// with fields of a wrong type are refused naming the file.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { CheckpointError } from '../../src/checkpoint/types.js';
import { readRun } from '../../src/report/index.js';
import { openCrossEncoder } from '../../src/train/cross-checkpoint.js';
import type { CrossSource } from '../../src/train/cross-data.js';
import { readCrossTrainerState, trainCrossEncoder } from '../../src/train/cross-train.js';
import { parseEpochTrainerState } from '../../src/train/epoch-resume.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import type { TrainSettings } from '../../src/train/train-biencoder.js';
import { cleanup, tmp } from '../eval/retrieve-helpers.js';

afterAll(cleanup);

/** In-memory candidates: `count` mentions, k 2, context 4 and candidate 3 ids each. */
function source(count: number): CrossSource {
  const ctxLen = 4,
    candLen = 3,
    k = 2;
  return {
    path: `mem-${count}`,
    count,
    k,
    ctxLen,
    candLen,
    totalMentions: count,
    labels: Int32Array.from({ length: count }, (_, i) => i % k),
    read(rows) {
      const B = rows.length;
      const contexts = new Int32Array(B * ctxLen);
      const candidates = new Int32Array(B * k * candLen);
      for (let b = 0; b < B; b++) {
        contexts.set([101, 1000 + rows[b]!, 1100, 102], b * ctxLen);
        for (let j = 0; j < k; j++) candidates.set([101, 2000 + j, 102], (b * k + j) * candLen);
      }
      return { contexts, candidates };
    },
    close() {},
  };
}

describe('cross-encoder training without val mentions', () => {
  it('records null accuracies, and the report reads them as no value', async () => {
    const out = tmp('biofeg-cross-noval-');
    const settings: TrainSettings = {
      learningRate: 1e-4,
      numTrainEpochs: 1,
      trainBatchSize: 2,
      evalBatchSize: 2,
      gradientAccumulationSteps: 1,
      warmupProportion: 0.1,
      maxGradNorm: 1,
      typeOptimization: 'all',
      seed: 5,
      printInterval: 1000,
      evalInterval: 1000,
      shuffle: false,
    };
    const model = openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: 5353, seed: 1 }).model;
    const log0 = new JsonlLogger(out);
    log0.log('start', { command: 'train-crossencoder' }); // as the stage's session writes it: the report's kind
    const r = await trainCrossEncoder(
      { model, train: source(4), val: source(0), pairs: { maxContextLength: 4, maxSeqLength: 6 }, outputPath: out },
      settings,
      { log: log0 },
    );
    expect(r.accuracies).toEqual([null, null]);
    expect(r.bestEpoch).toBe(-1);
    expect(readCrossTrainerState(join(out, 'epoch_0'))?.accuracies).toEqual([null, null]);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; accuracy?: unknown });
    const evals = log.filter((l) => l.event === 'eval' || l.event === 'epoch');
    expect(evals.map((e) => e.event)).toEqual(['eval', 'epoch']);
    for (const e of evals) expect(e.accuracy).toBeNull();
    const stage = readRun(out).stages[0]!;
    expect(stage.epochs.map((e) => e.accuracy)).toEqual([null, null]);
  }, 120_000);

  it('a trainer state with fields of a wrong type is a CheckpointError naming the file', () => {
    const good = { epoch: 1, microStep: 0, updates: 3, accuracies: [0.5, null], best: { epoch: 0, score: 0.5 } };
    expect(parseEpochTrainerState(good, 'ts.json')).toEqual(good);
    for (const [field, bad] of [
      ['epoch', { ...good, epoch: '1' }],
      ['microStep', { ...good, microStep: -1 }],
      ['updates', { ...good, updates: 1.5 }],
      ['accuracies', { ...good, accuracies: [0.5, 'x'] }],
      ['best', { ...good, best: { epoch: 0 } }],
    ] as const) {
      expect(() => parseEpochTrainerState(bad, 'ts.json'), field).toThrow(CheckpointError);
      expect(() => parseEpochTrainerState(bad, 'ts.json'), field).toThrow(new RegExp(`^ts\\.json: .*"${field}"`));
    }
    const dir = tmp('biofeg-ts-');
    mkdirSync(join(dir, 'epoch_0'));
    writeFileSync(join(dir, 'epoch_0', 'trainer_state.json'), JSON.stringify({ ...good, accuracies: 'high' }));
    expect(() => readCrossTrainerState(join(dir, 'epoch_0'))).toThrow(new RegExp(`^${join(dir, 'epoch_0', 'trainer_state.json')}: `));
  });
});
