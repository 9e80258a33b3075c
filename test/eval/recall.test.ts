import { describe, expect, it } from 'vitest';
import { formatOriginalLine, formatRecallTable, goldPositions, ranksFor, recallReport, RecallStats } from '../../src/eval/recall.js';

describe('goldPositions', () => {
  it('finds the first occurrence of the gold per row, -1 when absent', () => {
    const topk = Int32Array.from([5, 7, 9, /**/ 1, 2, 3, /**/ 4, 4, 8]);
    expect(Array.from(goldPositions(topk, 3, Int32Array.from([9, 0, 4])))).toEqual([2, -1, 0]);
  });
  it('checks the shapes', () => {
    expect(() => goldPositions(new Int32Array(5), 3, new Int32Array(2))).toThrow(/expected 2 mentions x 3/);
  });
});

describe('recall (original Stats semantics)', () => {
  it('shows the ranks up to top_k from 1,4,8,16,32,64,100,128,256,512', () => {
    expect(ranksFor(64)).toEqual([1, 4, 8, 16, 32, 64]);
    expect(ranksFor(10)).toEqual([1, 4, 8]);
    expect(ranksFor(100)).toEqual([1, 4, 8, 16, 32, 64, 100]);
  });

  it('counts misses in the total and hits at every rank above the position', () => {
    // positions: 0 (hit everywhere), 3 (r@4+), 4 (r@8+), 63 (r@64 only), -1 (miss)
    const r = recallReport('test', 64, [0, 3, 4, 63, -1]);
    expect(r.total).toBe(5);
    expect(r.hits).toEqual({ 1: 1, 4: 2, 8: 3, 16: 3, 32: 3, 64: 4 });
    expect(r.recall).toEqual({ 1: 0.2, 4: 0.4, 8: 0.6, 16: 0.6, 32: 0.6, 64: 0.8 });
    expect(formatOriginalLine(r)).toBe('Total: 5 examples. r@1: 0.2000 r@4: 0.4000 r@8: 0.6000 r@16: 0.6000 r@32: 0.6000 r@64: 0.8000');
  });

  it('extend sums two partial stats like the original world merge', () => {
    const a = new RecallStats(8).addAll([0, 7]);
    const b = new RecallStats(8).addAll([-1, 5]);
    a.extend(b);
    expect(a.report('all')).toMatchObject({ total: 4, hits: { 1: 1, 4: 1, 8: 3 }, recall: { 1: 0.25, 4: 0.25, 8: 0.75 } });
  });

  it('hitsAtK holds the whole curve k = 1..top_k, equal to hits at the listed ranks, merged by extend', () => {
    const r = recallReport('test', 8, [0, 3, 4, 7, -1, 2]);
    expect(r.hitsAtK).toEqual([1, 1, 2, 3, 4, 4, 4, 5]);
    for (const k of r.ks) expect(r.hitsAtK[k - 1]).toBe(r.hits[k]);
    const a = new RecallStats(4).addAll([0, 3]);
    a.extend(new RecallStats(4).addAll([1, -1]));
    expect(a.report('all').hitsAtK).toEqual([1, 2, 2, 3]);
  });

  it('an empty mode reports null, not NaN', () => {
    const r = recallReport('test_unseen', 4, []);
    expect(r.recall).toEqual({ 1: null, 4: null });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('prints an aligned table', () => {
    const t = formatRecallTable([recallReport('test_seen', 4, [0, 1, -1, 2]), recallReport('test_unseen', 4, [])]);
    expect(t).toBe(
      [
        'mode         mentions     r@1     r@4',
        '-----------  --------  ------  ------',
        'test_seen           4  0.2500  0.7500',
        'test_unseen         0       -       -',
        '',
      ].join('\n'),
    );
  });
});
