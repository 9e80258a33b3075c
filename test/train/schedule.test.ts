import { describe, expect, it } from 'vitest';
import { isIntervalStep, isUpdateStep, learningRateAt, lrMultiplier, planSchedule } from '../../src/train/schedule.js';

describe('planSchedule (original get_scheduler arithmetic)', () => {
  it('N=1000, batch 64, no accumulation, 1 epoch: 15 steps, 1 warmup step, 16 actual updates', () => {
    // int(1000/64/1)*1 = int(15.625) = 15; int(15*0.1) = int(1.5) = 1; ceil(1000/64) = 16 batches.
    expect(
      planSchedule({ numExamples: 1000, trainBatchSize: 64, gradientAccumulationSteps: 1, numTrainEpochs: 1, warmupProportion: 0.1 }),
    ).toEqual({
      microBatchSize: 64,
      gradientAccumulationSteps: 1,
      totalSteps: 15,
      warmupSteps: 1,
      microBatchesPerEpoch: 16,
      optimizerStepsPerEpoch: 16,
    });
  });

  it('accumulation divides the batch first, then the step count again', () => {
    // micro = 64//4 = 16; int(1000/16/4) = int(15.625) = 15 per epoch, x2 = 30; int(30*0.1) = int(3.0000000000000004) = 3.
    // ceil(1000/16) = 63 micro-batches, floor(63/4) = 15 updates per epoch (3 leftover micro-batches).
    const p = planSchedule({
      numExamples: 1000,
      trainBatchSize: 64,
      gradientAccumulationSteps: 4,
      numTrainEpochs: 2,
      warmupProportion: 0.1,
    });
    expect(p).toMatchObject({ microBatchSize: 16, totalSteps: 30, warmupSteps: 3, microBatchesPerEpoch: 63, optimizerStepsPerEpoch: 15 });
  });

  it('floors a batch that does not divide by the accumulation steps', () => {
    // micro = 10//4 = 2; int(100/2/4) = int(12.5) = 12; int(12*0.1) = int(1.2000000000000002) = 1.
    const p = planSchedule({
      numExamples: 100,
      trainBatchSize: 10,
      gradientAccumulationSteps: 4,
      numTrainEpochs: 1,
      warmupProportion: 0.1,
    });
    expect(p).toMatchObject({ microBatchSize: 2, totalSteps: 12, warmupSteps: 1, microBatchesPerEpoch: 50, optimizerStepsPerEpoch: 12 });
  });

  it('truncates warmup like Python int(): 29 steps x 0.1 -> 2, 70 x 0.1 -> 7', () => {
    expect(
      planSchedule({ numExamples: 29, trainBatchSize: 1, gradientAccumulationSteps: 1, numTrainEpochs: 1, warmupProportion: 0.1 })
        .warmupSteps,
    ).toBe(2);
    expect(
      planSchedule({ numExamples: 70, trainBatchSize: 1, gradientAccumulationSteps: 1, numTrainEpochs: 1, warmupProportion: 0.1 })
        .warmupSteps,
    ).toBe(7);
  });

  it('rejects what the original crashes on, with the flag named', () => {
    const base = { numExamples: 10, trainBatchSize: 2, gradientAccumulationSteps: 4, numTrainEpochs: 1, warmupProportion: 0.1 };
    expect(() => planSchedule(base)).toThrow(/--train_batch_size 2 is smaller than --gradient_accumulation_steps 4/);
    expect(() => planSchedule({ ...base, gradientAccumulationSteps: 0 })).toThrow(/--gradient_accumulation_steps must be an integer >= 1/);
    expect(() => planSchedule({ ...base, trainBatchSize: 8, warmupProportion: 1.5 })).toThrow(/--warmup_proportion/);
  });
});

describe('lrMultiplier (WarmupLinearSchedule, update k uses lambda(k))', () => {
  it('warmup 3 of 6 steps: 0, 1/3, 2/3, 1, 2/3, 1/3, then 0 for extra updates', () => {
    // N=7, batch 3, 3 epochs: int(7/3)*3 = 6 steps, int(6*0.5) = 3 warmup; 3 updates/epoch -> 9 updates.
    const p = planSchedule({ numExamples: 7, trainBatchSize: 3, gradientAccumulationSteps: 1, numTrainEpochs: 3, warmupProportion: 0.5 });
    expect(p).toMatchObject({ totalSteps: 6, warmupSteps: 3, optimizerStepsPerEpoch: 3 });
    const got = Array.from({ length: 9 }, (_, k) => lrMultiplier(k, p.warmupSteps, p.totalSteps));
    const want = [0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0, 0, 0];
    got.forEach((g, k) => expect(g).toBeCloseTo(want[k]!, 15));
  });

  it('first update has lr 0 with warmup and the full lr without', () => {
    expect(learningRateAt(0, 1e-5, { warmupSteps: 1, totalSteps: 15 })).toBe(0);
    expect(learningRateAt(1, 1e-5, { warmupSteps: 1, totalSteps: 15 })).toBe(1e-5); // (15-1)/(15-1)
    expect(learningRateAt(2, 1e-5, { warmupSteps: 1, totalSteps: 15 })).toBeCloseTo(1e-5 * (13 / 14), 20);
    expect(lrMultiplier(0, 0, 10)).toBe(1);
    expect(lrMultiplier(5, 0, 10)).toBe(0.5);
  });

  it('degenerate totals do not divide by zero (max(1, ...) as the original)', () => {
    expect(lrMultiplier(0, 0, 0)).toBe(0); // max(0, 0/1)
    expect(lrMultiplier(1, 2, 2)).toBe(0.5); // warmup: 1/2
    expect(lrMultiplier(2, 2, 2)).toBe(0); // (2-2)/max(1,0)
  });
});

describe('step predicates', () => {
  it('updates every grad_acc micro-batches, counting from 1', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((s) => isUpdateStep(s, 4))).toEqual([3, 7]);
    expect([0, 1, 2].filter((s) => isUpdateStep(s, 1))).toEqual([0, 1, 2]);
  });
  it('print/eval interval is in updates times grad_acc micro-batches', () => {
    const hits = Array.from({ length: 30 }, (_, s) => s).filter((s) => isIntervalStep(s, 5, 2));
    expect(hits).toEqual([9, 19, 29]);
    expect(isIntervalStep(0, 0, 1)).toBe(false);
  });
});
