import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiniteLoss, NonFiniteLossError } from '../../src/train/guard.js';
import { JsonlLogger } from '../../src/train/jsonl-log.js';
import { clipScale, sumOfSquares } from '../../src/train/grad-clip.js';

describe('checkFiniteLoss', () => {
  it('passes finite values through', () => {
    expect(checkFiniteLoss(2.5, 7)).toBe(2.5);
  });
  it('names the value, the step and what to do', () => {
    expect(() => checkFiniteLoss(NaN, 12, { context: 'epoch 0, batch 12' })).toThrow(
      'loss is NaN at step 12 (epoch 0, batch 12): training stopped. The last good checkpoint was kept; try a lower --learning_rate or a smaller --max_grad_norm.',
    );
    expect(() => checkFiniteLoss(-Infinity, 3, { what: 'critic loss' })).toThrow(/^critic loss is -Inf at step 3:/);
    try {
      checkFiniteLoss(Infinity, 40);
    } catch (e) {
      expect(e).toBeInstanceOf(NonFiniteLossError);
      expect((e as NonFiniteLossError).step).toBe(40);
      expect((e as Error).message).toMatch(/\+Inf/);
    }
  });
});

describe('JsonlLogger', () => {
  it('appends one JSON object per event, across reopenings', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'biofeg-log-')), 'out');
    const now = (): Date => new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    const a = new JsonlLogger(dir, { now });
    a.log('step', { step: 1, loss: 0.5 });
    a.log('eval', { accuracy: NaN, skipped: undefined });
    a.close();
    const b = new JsonlLogger(dir, { now });
    b.log('done');
    b.close();
    const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { time: '2024-01-02T03:04:05.000Z', event: 'step', step: 1, loss: 0.5 },
      { time: '2024-01-02T03:04:05.000Z', event: 'eval', accuracy: 'NaN' },
      { time: '2024-01-02T03:04:05.000Z', event: 'done' },
    ]);
    expect(() => b.log('late')).toThrow(/closed/);
  });
});

describe('clip_grad_norm_ scale', () => {
  it('scales by max_norm / (norm + 1e-6) only above the limit', () => {
    // grads (3, 4): norm 5 -> 1 / (5 + 1e-6)
    const g = new Float32Array([3, 4]);
    expect(sumOfSquares(g)).toBe(25);
    expect(clipScale(25, 1)).toBeCloseTo(1 / 5.000001, 12);
    expect(clipScale(0.25, 1)).toBe(1); // norm 0.5
    expect(clipScale(0, 1)).toBe(1);
    expect(sumOfSquares(new Float32Array([3, 4, 12]), new Float32Array([1, 0, 1]))).toBe(153);
    expect(() => clipScale(1, 0)).toThrow(/--max_grad_norm/);
  });
});
