// compareFeatures (issue 22's generated-vs-real statistics) on hand-made vectors whose cosines
// are known: a generated row equal to its entity's mentions has cosine 1 to them and is nearest
// to its own centroid; one pointing at another entity is not.
import { describe, expect, it } from 'vitest';

import { compareFeatures } from '../../src/eval/feature-stats.js';

const set = (rows: number[][], labels: number[]) => ({
  data: Float32Array.from(rows.flat()),
  dim: rows[0]!.length,
  labels: Int32Array.from(labels),
});

describe('compareFeatures', () => {
  // Entity 0 along x, entity 1 along y (two mentions each, one scaled: cosine ignores the norm).
  const real = set(
    [
      [2, 0],
      [4, 0],
      [0, 3],
      [0, 3],
    ],
    [0, 0, 1, 1],
  );

  it('own-entity cosine 1 and nearest own centroid when G reproduces the mentions', () => {
    const c = compareFeatures(
      real,
      set(
        [
          [1, 0],
          [0, 5],
        ],
        [0, 1],
      ),
    );
    expect(c.generatedToOwn).toBeCloseTo(1, 6);
    expect(c.generatedToOthers).toBeCloseTo(0, 6);
    expect(c.generatedNearestOwn).toBe(1);
    expect(c.realToOwn).toBeCloseTo(1, 6);
    expect(c.realToOthers).toBeCloseTo(0, 6);
    expect(c.realMeanNorm).toBeCloseTo((2 + 4 + 3 + 3) / 4, 6);
    expect(c.generatedMeanNorm).toBeCloseTo(3, 6);
    expect(c.entities).toBe(2);
  });

  it('features of the wrong entity score to the others and are never nearest their own', () => {
    const c = compareFeatures(
      real,
      set(
        [
          [0, 1],
          [1, 0],
          [1, 1],
        ],
        [0, 1, 0],
      ),
    );
    expect(c.generatedNearestOwn).toBeCloseTo(1 / 3, 6); // the diagonal one ties; the first centroid (its own, entity 0) wins
    expect(c.generatedToOwn).toBeCloseTo((0 + 0 + Math.SQRT1_2) / 3, 6);
    expect(c.generatedToOthers).toBeCloseTo((1 + 1 + Math.SQRT1_2) / 3, 6);
  });

  it('leaves out generated rows of entities without real rows, and refuses mismatched sizes', () => {
    const c = compareFeatures(
      real,
      set(
        [
          [1, 0],
          [5, 5],
        ],
        [0, 9],
      ),
    );
    expect(c.entities).toBe(1);
    expect(c.generatedToOwn).toBeCloseTo(1, 6);
    expect(() => compareFeatures(real, set([[1, 0, 0]], [0]))).toThrow(/2-d, generated 3-d/);
  });
});
