// Small synthetic run folders in the formats the stages write (log.jsonl lines, DONE.json,
// eval_report.json), for the report's tests: a finished pipeline, an interrupted stage, a
// NaN-stopped one. Values are made up; their shapes are the stages' own.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const line = (o: Line) => JSON.stringify(o);

export type Line = Record<string, unknown>;

export function writeLog(dir: string, lines: readonly Line[], tail = ''): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'log.jsonl'), lines.map(line).join('\n') + (lines.length ? '\n' : '') + tail);
}

export function writeDone(dir: string, stage: string, seconds: number, result: unknown, settings?: object): void {
  mkdirSync(dir, { recursive: true });
  const done = { stage, finishedAt: t(seconds), seconds, result, ...(settings ? { fingerprint: JSON.stringify(settings) } : {}) };
  writeFileSync(join(dir, 'DONE.json'), JSON.stringify(done, null, 2));
}

/** A bi-encoder training log: `epochs` epochs of `perEpoch` updates, a 'step' line each update; stops after `stopAfter` updates. */
export function trainLines(epochs: number, perEpoch: number, stopAfter = Number.POSITIVE_INFINITY): Line[] {
  const out: Line[] = [
    {
      time: t(0),
      event: 'start',
      command: 'train-biencoder',
      device: 'cpu',
      hard: false,
      settings: { numTrainEpochs: epochs, learningRate: 5e-4, trainBatchSize: 32 },
    },
    { time: t(0), event: 'plan', examples: 320, totalSteps: epochs * perEpoch },
    { time: t(1), event: 'eval', epoch: -1, accuracy: 0.1 },
  ];
  let u = 0;
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s < perEpoch; s++) {
      if (u >= stopAfter) return out;
      u++;
      out.push({
        time: t(2 + u),
        event: 'step',
        epoch: e,
        step: s,
        updates: u,
        loss: 3 / (1 + u / 5) + 0.1 * Math.sin(u),
        lr: 5e-4 * Math.min(1, u / 4),
        gradNorm: 1 + 1 / u,
        stepsPerSecond: 10 + (u % 3),
        sequencesPerSecond: 320 + 10 * (u % 3),
      });
    }
    out.push({ time: t(3 + u), event: 'epoch', epoch: e, accuracy: 0.2 + 0.1 * e, best: e, updates: u });
  }
  return out;
}

export function ganLines(epochs: number): Line[] {
  const out: Line[] = [
    { time: t(0), event: 'start', command: 'train-gan', device: 'cpu', settings: { numTrainEpochs: epochs, criticIters: 5 } },
    { time: t(1), event: 'eval', epoch: -1, accuracy: 0.01 },
  ];
  for (let e = 0; e < epochs; e++)
    out.push({
      time: t(5 + 5 * e),
      event: 'epoch',
      epoch: e,
      disc: -6 - e,
      gen: 3.5 + e / 3,
      mse: 0.9 - e / 20,
      penalty: 0.5 / (e + 1),
      wasserstein: 6.5 + e,
      accuracy: 0.02,
      seconds: 5,
      batchesPerSecond: 8,
      examplesPerSecond: 512,
    });
  return out;
}

/** eval_report.json as src/eval/evaluate.ts writes it (hitsAtK: the whole curve), for modes test/test_seen/test_unseen. */
export function writeEval(dir: string, stage: string, quality: number, topK = 64): void {
  mkdirSync(dir, { recursive: true });
  const ks = [1, 4, 8, 16, 32, 64].filter((k) => k <= topK);
  const modes = (['test', 'test_seen', 'test_unseen'] as const).map((mode, mi) => {
    const total = [100, 60, 40][mi]!;
    const hitsAtK = Array.from({ length: topK }, (_, i) =>
      Math.round(total * Math.min(1, (quality * (1 - mi * 0.2) * Math.log2(i + 2)) / 7)),
    );
    const hits = Object.fromEntries(ks.map((k) => [String(k), hitsAtK[k - 1]!]));
    const recall = Object.fromEntries(ks.map((k) => [String(k), hitsAtK[k - 1]! / total]));
    return { mode, source: `${mode}.jsonl`, recall: { mode, total, topK, ks, hits, recall, hitsAtK }, seconds: 0.1 };
  });
  writeFileSync(join(dir, 'eval_report.json'), JSON.stringify({ format: 'biofeg-eval-report', version: 1, topK, modes }, null, 2));
  writeDone(
    dir,
    stage,
    0.5,
    { table: '', modes: modes.map((m) => ({ mode: m.mode, total: m.recall.total, recall: m.recall.recall })) },
    { topK },
  );
}

/**
 * A pipeline folder: pipeline.json (no hard round), eval-biencoder and eval-finetune evaluated,
 * biencoder and finetune trained, gan trained; generate done. Charts: wall time 1, recall 3 modes,
 * biencoder 5 (loss, lr, grad norm, throughput, accuracy), finetune 5, gan 3 = 17.
 */
export function writePipeline(root: string): { charts: number } {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'pipeline.json'), JSON.stringify({ hardRound: false, evalUntrained: false }));
  writeLog(join(root, 'biencoder'), trainLines(3, 10));
  writeDone(join(root, 'biencoder'), 'biencoder', 40, { accuracies: [0.1, 0.2, 0.3, 0.4], bestEpoch: 2, updates: 30 });
  writeEval(join(root, 'eval-biencoder'), 'eval-biencoder', 0.5);
  writeLog(join(root, 'gan'), ganLines(3));
  writeDone(join(root, 'gan'), 'gan', 15, { accuracies: [0.01, 0.02], saved: ['gan/epoch_2'] });
  writeDone(join(root, 'generate'), 'generate', 0.2, { path: 'generate/x.topk', count: 10, topK: 1, inserted: 0 });
  writeLog(
    join(root, 'finetune'),
    trainLines(1, 8).map((l) => (l['event'] === 'start' ? { ...l, command: 'finetune' } : l)),
  );
  writeDone(join(root, 'finetune'), 'finetune', 5, { accuracies: [0.3, 0.35], bestEpoch: 0, updates: 8 });
  writeEval(join(root, 'eval-finetune'), 'eval-finetune', 0.6);
  return { charts: 17 };
}

/**
 * The optional cross-encoder stages beside a pipeline: crossencoder (train-crossencoder's log: the
 * print-interval 'train' lines, no throughput) and eval-crossencoder (accuracy per mode). Charts
 * added: crossencoder loss, lr, grad norm, accuracy; the reranking bars = 5.
 */
export function writeCross(root: string): { charts: number } {
  const train: Line[] = [
    { time: t(0), event: 'start', command: 'train-crossencoder', device: 'cpu', settings: { numTrainEpochs: 2 } },
    { time: t(1), event: 'eval', epoch: -1, accuracy: 0.2 },
  ];
  for (let e = 0; e < 2; e++) {
    for (let s = 0; s < 3; s++)
      train.push({
        time: t(2 + e * 4 + s),
        event: 'train',
        epoch: e,
        step: s,
        updates: e * 3 + s + 1,
        loss: 2 - e * 0.5 - s * 0.1,
        lr: 1e-5,
        gradNorm: 3,
      });
    train.push({ time: t(5 + e * 4), event: 'epoch', epoch: e, accuracy: 0.3 + e * 0.1, best: e, updates: (e + 1) * 3 });
  }
  writeLog(join(root, 'crossencoder'), train);
  writeDone(join(root, 'crossencoder'), 'crossencoder', 9, { accuracies: [0.2, 0.3, 0.4] });
  const dir = join(root, 'eval-crossencoder');
  mkdirSync(dir, { recursive: true });
  const modes = ['test', 'test_seen', 'test_unseen'].map((mode, i) => ({
    mode,
    file: `${mode}.topk`,
    k: 8,
    mentions: 100,
    scored: 60 - i * 10,
    hits: 40 - i * 10,
    normalizedAccuracy: (40 - i * 10) / (60 - i * 10),
    unnormalizedAccuracy: (40 - i * 10) / 100,
    biencoderNormalizedAccuracy: 0.5,
    biencoderUnnormalizedAccuracy: 0.3 - i * 0.05,
    recallAtK: (60 - i * 10) / 100,
  }));
  writeFileSync(join(dir, 'eval_report.json'), JSON.stringify({ modes }, null, 2));
  writeDone(dir, 'eval-crossencoder', 2, { modes });
  return { charts: 5 };
}
