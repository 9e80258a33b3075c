// Retrieval recall as the original's Stats (blink/biencoder/zeshel_utils.py): a mention counts as
// a hit at k when its gold entity is among the first k retrieved; misses (gold not in the top-k)
// count in the total. Ranks shown are those of the original's list that are <= top_k.

export const RECALL_RANKS = [1, 4, 8, 16, 32, 64, 100, 128, 256, 512] as const;

/** Ranks reported for a given top_k (the original stops at the first rank above top_k). */
export function ranksFor(topK: number): number[] {
  return RECALL_RANKS.filter((r) => r <= topK);
}

/**
 * Position of each mention's gold entity in its retrieved list, or -1 when absent (first
 * occurrence, as the original's scan). `topk` is row-major [mentions x k] entity indices.
 */
export function goldPositions(topk: Int32Array, k: number, gold: Int32Array): Int32Array {
  if (!Number.isInteger(k) || k < 1) throw new Error(`top_k must be >= 1, got ${k}`);
  if (topk.length !== gold.length * k) throw new Error(`top-k array has ${topk.length} entries, expected ${gold.length} mentions x ${k}`);
  const pos = new Int32Array(gold.length).fill(-1);
  for (let i = 0; i < gold.length; i++) {
    const g = gold[i]!;
    const row = i * k;
    for (let j = 0; j < k; j++) {
      if (topk[row + j] === g) {
        pos[i] = j;
        break;
      }
    }
  }
  return pos;
}

export class RecallStats {
  count = 0;
  readonly hits: number[] = RECALL_RANKS.map(() => 0);
  /** Mentions whose gold is at each position 0..topK-1: the whole recall@k curve (reports draw it). */
  readonly atPosition: number[];
  constructor(readonly topK: number) {
    this.atPosition = new Array<number>(Math.max(0, topK)).fill(0);
  }

  /** One mention with gold at `position` (0-based) or -1 when not retrieved. */
  add(position: number): void {
    this.count++;
    if (position < 0) return;
    if (position < this.atPosition.length) this.atPosition[position]!++;
    for (let i = 0; i < RECALL_RANKS.length; i++) if (position < RECALL_RANKS[i]!) this.hits[i]!++;
  }

  addAll(positions: ArrayLike<number>): this {
    for (let i = 0; i < positions.length; i++) this.add(positions[i]!);
    return this;
  }

  extend(other: RecallStats): void {
    this.count += other.count;
    for (let i = 0; i < RECALL_RANKS.length; i++) this.hits[i]! += other.hits[i]!;
    for (let i = 0; i < this.atPosition.length; i++) this.atPosition[i]! += other.atPosition[i] ?? 0;
  }

  report(mode: string): RecallReport {
    const ks = ranksFor(this.topK);
    const hits: Record<string, number> = {};
    const recall: Record<string, number | null> = {};
    ks.forEach((k) => {
      const h = this.hits[RECALL_RANKS.indexOf(k as (typeof RECALL_RANKS)[number])]!;
      hits[k] = h;
      recall[k] = this.count === 0 ? null : h / this.count;
    });
    let sum = 0;
    const hitsAtK = this.atPosition.map((h) => (sum += h));
    return { mode, total: this.count, topK: this.topK, ks, hits, recall, hitsAtK };
  }
}

/** Per-mode result, JSON-ready; `recall[k]` is null for an empty mode (the original divides by zero). */
export interface RecallReport {
  mode: string;
  total: number;
  topK: number;
  ks: number[];
  hits: Record<string, number>;
  recall: Record<string, number | null>;
  /** Hits at every k = 1..topK (index k-1): the recall@k curve is hitsAtK[k-1] / total. */
  hitsAtK: number[];
}

export function recallReport(mode: string, topK: number, positions: ArrayLike<number>): RecallReport {
  return new RecallStats(topK).addAll(positions).report(mode);
}

/** The original's log line: `Total: N examples. r@1: 0.1234 r@4: ...`. */
export function formatOriginalLine(r: RecallReport): string {
  let s = `Total: ${r.total} examples.`;
  for (const k of r.ks) s += ` r@${k}: ${r.recall[k] === null ? 'nan' : r.recall[k]!.toFixed(4)}`;
  return s;
}

/** A fixed-width table, one row per mode, columns r@k for the union of the reports' ranks. */
export function formatRecallTable(reports: readonly RecallReport[], digits = 4): string {
  const ks = [...new Set(reports.flatMap((r) => r.ks))].sort((a, b) => a - b);
  const header = ['mode', 'mentions', ...ks.map((k) => `r@${k}`)];
  const rows = reports.map((r) => [
    r.mode,
    String(r.total),
    ...ks.map((k) => (r.recall[k] === undefined ? '' : r.recall[k] === null ? '-' : r.recall[k]!.toFixed(digits))),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}
