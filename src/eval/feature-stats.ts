// Generated against real mention features (issue 22's diagnosis): whether the GAN's features of an
// entity look like that entity's real mention features. Mean cosine of a vector x to a set S is
// x/|x| · mean(s/|s|), so per-entity sums of unit vectors give every mean exactly in one pass.

export interface FeatureSet {
  /** [rows × dim], row-major. */
  data: Float32Array;
  dim: number;
  /** The entity of each row. */
  labels: Int32Array;
}

export interface FeatureComparison {
  realRows: number;
  generatedRows: number;
  /** Entities with both generated and real rows (the cosines are over these). */
  entities: number;
  realMeanNorm: number;
  generatedMeanNorm: number;
  /** Mean over generated rows of their mean cosine to their own entity's real rows. */
  generatedToOwn: number;
  /** ... to the real rows of every other entity. */
  generatedToOthers: number;
  /** The same two for real rows (own: the entity's other real rows; entities with at least two). */
  realToOwn: number;
  realToOthers: number;
  /** Share of generated rows whose nearest real centroid (by cosine) is their own entity's. */
  generatedNearestOwn: number;
}

function unitRows(f: FeatureSet): { unit: Float32Array; norms: Float64Array } {
  const rows = f.labels.length;
  if (f.data.length !== rows * f.dim) throw new RangeError(`features: ${f.data.length} values for ${rows} rows of ${f.dim}`);
  const unit = new Float32Array(f.data.length);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < f.dim; j++) s += f.data[r * f.dim + j]! ** 2;
    const n = Math.sqrt(s);
    norms[r] = n;
    // A zero row (ReLU can give one) has no direction: it counts as cosine 0 to everything.
    if (n > 0) for (let j = 0; j < f.dim; j++) unit[r * f.dim + j] = f.data[r * f.dim + j]! / n;
  }
  return { unit, norms };
}

const dot = (a: Float32Array, ai: number, b: Float64Array, bi: number, dim: number): number => {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[ai + j]! * b[bi + j]!;
  return s;
};
const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Compares generated features with real ones of the same entities (rows of entities absent from `real` are left out of the cosines). */
export function compareFeatures(real: FeatureSet, generated: FeatureSet): FeatureComparison {
  if (real.dim !== generated.dim) throw new RangeError(`features: real ${real.dim}-d, generated ${generated.dim}-d`);
  const dim = real.dim;
  const R = unitRows(real),
    G = unitRows(generated);
  // Per-entity sums of the real unit vectors, and their total.
  const slot = new Map<number, number>();
  for (const l of real.labels) if (!slot.has(l)) slot.set(l, slot.size);
  const sums = new Float64Array(slot.size * dim),
    counts = new Int32Array(slot.size),
    total = new Float64Array(dim);
  real.labels.forEach((l, r) => {
    const e = slot.get(l)!;
    counts[e]!++;
    for (let j = 0; j < dim; j++) {
      sums[e * dim + j]! += R.unit[r * dim + j]!;
      total[j]! += R.unit[r * dim + j]!;
    }
  });
  const N = real.labels.length;
  const own: number[] = [],
    others: number[] = [],
    nearest: number[] = [];
  const usedEntities = new Set<number>();
  generated.labels.forEach((l, r) => {
    const e = slot.get(l);
    if (e === undefined) return;
    usedEntities.add(l);
    const toAll = dot(G.unit, r * dim, total, 0, dim);
    const toOwn = dot(G.unit, r * dim, sums, e * dim, dim);
    own.push(toOwn / counts[e]!);
    if (N > counts[e]!) others.push((toAll - toOwn) / (N - counts[e]!));
    // Nearest centroid: the direction of the sum is the centroid's direction.
    let best = -1,
      bestCos = -Infinity;
    for (let c = 0; c < slot.size; c++) {
      let n2 = 0;
      for (let j = 0; j < dim; j++) n2 += sums[c * dim + j]! ** 2;
      const cos = n2 > 0 ? dot(G.unit, r * dim, sums, c * dim, dim) / Math.sqrt(n2) : -Infinity;
      if (cos > bestCos) [best, bestCos] = [c, cos];
    }
    nearest.push(best === e ? 1 : 0);
  });
  const realOwn: number[] = [],
    realOthers: number[] = [];
  real.labels.forEach((l, r) => {
    const e = slot.get(l)!;
    const self = R.norms[r]! > 0 ? 1 : 0;
    const toOwn = dot(R.unit, r * dim, sums, e * dim, dim) - self;
    if (counts[e]! > 1) realOwn.push(toOwn / (counts[e]! - 1));
    if (N > counts[e]!) realOthers.push((dot(R.unit, r * dim, total, 0, dim) - toOwn - self) / (N - counts[e]!));
  });
  return {
    realRows: N,
    generatedRows: generated.labels.length,
    entities: usedEntities.size,
    realMeanNorm: mean([...R.norms]),
    generatedMeanNorm: mean([...G.norms]),
    generatedToOwn: mean(own),
    generatedToOthers: mean(others),
    realToOwn: mean(realOwn),
    realToOthers: mean(realOthers),
    generatedNearestOwn: mean(nearest),
  };
}
