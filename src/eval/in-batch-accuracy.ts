// Validation accuracy during training (train_biencoder.py evaluate): for each batch, the argmax
// of each score row (first maximum, as np.argmax) against the label: the diagonal with in-batch
// negatives, the gold position with hard negatives. Normalised by the number of examples.

/** Index of the first maximum of row `r` of a row-major [rows x cols] matrix. */
export function rowArgmax(scores: Float32Array, cols: number, r: number): number {
  let best = 0;
  let bestV = scores[r * cols]!;
  for (let j = 1; j < cols; j++) {
    const v = scores[r * cols + j]!;
    // NaN compares false; np.argmax would pick the first NaN. A NaN score is caught by the guard first.
    if (v > bestV) {
      bestV = v;
      best = j;
    }
  }
  return best;
}

/** Correct rows of one batch; `labels` null means in-batch negatives (label of row i is i). */
export function batchCorrect(scores: Float32Array, rows: number, cols: number, labels: ArrayLike<number> | null): number {
  if (scores.length !== rows * cols) throw new Error(`scores have ${scores.length} entries, expected ${rows} x ${cols}`);
  if (labels !== null && labels.length !== rows) throw new Error(`${labels.length} labels for ${rows} rows`);
  let n = 0;
  for (let i = 0; i < rows; i++) if (rowArgmax(scores, cols, i) === (labels === null ? i : labels[i])) n++;
  return n;
}

export interface AccuracyOptions {
  /**
   * Reproduce the original's in-batch evaluation of a final partial batch: it compares against
   * arange(eval_batch_size), so with numpy < 1.25 a partial batch of 2+ rows scores 0 (a failed
   * broadcast compares as False; numpy >= 1.25 raises instead) and a batch of 1 row scores 1.
   * Needs `evalBatchSize`. Default false: every row is compared with its own label.
   */
  legacyPartialBatch?: boolean;
  evalBatchSize?: number;
}

export class AccuracyMeter {
  correct = 0;
  examples = 0;
  constructor(private readonly opts: AccuracyOptions = {}) {
    if (opts.legacyPartialBatch && !(opts.evalBatchSize && opts.evalBatchSize > 0))
      throw new Error('legacyPartialBatch needs evalBatchSize');
  }

  /** Add one batch of scores [rows x cols]; `labels` null for in-batch negatives. */
  addBatch(scores: Float32Array, rows: number, cols: number, labels: ArrayLike<number> | null = null): void {
    let c = batchCorrect(scores, rows, cols, labels);
    if (this.opts.legacyPartialBatch && labels === null && rows !== this.opts.evalBatchSize) c = rows === 1 ? 1 : 0;
    this.correct += c;
    this.examples += rows;
  }

  /** correct / examples (the original's normalized_accuracy); 0 when nothing was added. */
  get accuracy(): number {
    return this.examples === 0 ? 0 : this.correct / this.examples;
  }
}
