import { describe, expect, it } from 'vitest';
import { AccuracyMeter, batchCorrect, rowArgmax } from '../../src/eval/in-batch-accuracy.js';

describe('in-batch accuracy', () => {
  // 3x3 scores: row 0 argmax 0 (correct), row 1 argmax 2 (wrong), row 2 ties at 1 and 2 -> first max 1 (wrong)
  const s = Float32Array.from([5, 1, 0, /**/ 0, 1, 2, /**/ 0, 3, 3]);

  it('argmax takes the first maximum like np.argmax', () => {
    expect([0, 1, 2].map((r) => rowArgmax(s, 3, r))).toEqual([0, 2, 1]);
  });

  it('diagonal labels for in-batch negatives, given labels for hard negatives', () => {
    expect(batchCorrect(s, 3, 3, null)).toBe(1);
    expect(batchCorrect(s, 3, 3, [0, 2, 1])).toBe(3);
    expect(() => batchCorrect(s, 2, 3, null)).toThrow(/expected 2 x 3/);
  });

  it('normalises by examples over batches, including a partial last batch', () => {
    const m = new AccuracyMeter();
    m.addBatch(s, 3, 3); // 1 of 3
    m.addBatch(Float32Array.from([1, 0, 0, 1]), 2, 2); // 2 of 2
    expect(m.correct).toBe(3);
    expect(m.accuracy).toBeCloseTo(3 / 5, 15);
  });

  it('legacy mode reproduces the original partial-batch quirk (0 for 2+ rows, 1 for one row)', () => {
    const m = new AccuracyMeter({ legacyPartialBatch: true, evalBatchSize: 3 });
    m.addBatch(s, 3, 3); // full batch: 1
    m.addBatch(Float32Array.from([1, 0, 0, 1]), 2, 2); // partial, all correct, scored 0
    m.addBatch(Float32Array.from([0.5]), 1, 1); // single row: 1
    expect([m.correct, m.examples]).toEqual([2, 6]);
    expect(() => new AccuracyMeter({ legacyPartialBatch: true })).toThrow(/evalBatchSize/);
  });
});
