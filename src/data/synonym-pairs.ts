// SapBERT's pairwise training data from a KB's own names (cambridgeltl/sapbert,
// data/generate_pretraining_data.ipynb): per concept the set of its (lower-cased) names, every
// unordered pair of them (itertools.combinations(names, 2)), and at most 50 pairs a concept
// (random.sample of 50 when there are more). Here the names keep the file's order (SapBERT's
// set() has none) and the sample is seeded. A concept with fewer than two distinct names gives
// no pair: skipped and counted. A name shared by several concepts is kept in each (counted), as
// SapBERT keeps (cui, name) rows.
import { mulberry32 } from '../models/rng.js';
import type { ConceptNames } from './kb-names.js';

/** SapBERT's cap on the pairs of one concept. */
export const MAX_PAIRS_PER_CONCEPT = 50;

export interface PairOptions {
  /** Names compared (and deduplicated) lower-cased, as SapBERT's `synonym.lower()` (default true). */
  lowercase?: boolean;
  /** Pairs kept per concept at most (default 50). */
  maxPairsPerConcept?: number;
  /** Seed of the sample of a concept with more pairs than that. */
  seed?: number;
}

export interface PairStats {
  concepts: number;
  /** Concepts that gave pairs. */
  conceptsWithPairs: number;
  /** Concepts with fewer than two distinct names (no synonym): no pair. */
  skippedNoSynonym: number;
  /** Distinct (concept, name) entries. */
  names: number;
  /** A name repeated within its own concept (after lower-casing): dropped. */
  repeatedWithinConcept: number;
  /** Distinct names that belong to more than one concept (kept in each). */
  sharedNames: number;
  /** Concepts whose pairs were sampled down to the cap. */
  sampledConcepts: number;
  pairs: number;
}

export interface SynonymPairs {
  /** The distinct name texts; pairs index into it. */
  texts: string[];
  /** Pair i: texts[left[i]] and texts[right[i]], of concept label[i] (0-based over the concepts with pairs). */
  left: Int32Array;
  right: Int32Array;
  label: Int32Array;
  /** Id of each label. */
  conceptIds: string[];
  stats: PairStats;
  /** The first few skipped concepts, `where: id` (for the log). */
  skippedExamples: string[];
}

const normalise = (s: string, lower: boolean): string => {
  const t = s.replace(/\s+/g, ' ').trim();
  return lower ? t.toLowerCase() : t;
};

/** k distinct indices of [0, n) in increasing order (a seeded partial Fisher-Yates). */
function sample(n: number, k: number, r: () => number): number[] {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(r() * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return Array.from(idx.subarray(0, k)).sort((a, b) => a - b);
}

export function synonymPairs(concepts: readonly ConceptNames[], o: PairOptions = {}): SynonymPairs {
  const lower = o.lowercase ?? true;
  const cap = o.maxPairsPerConcept ?? MAX_PAIRS_PER_CONCEPT;
  if (!Number.isInteger(cap) || cap < 1) throw new Error(`maxPairsPerConcept must be an integer >= 1, got ${cap}`);
  const r = mulberry32((o.seed ?? 52313) ^ 0x5a9b);
  const texts: string[] = [];
  const textIndex = new Map<string, number>();
  const owners = new Map<number, number>(); // text -> concepts holding it
  const left: number[] = [],
    right: number[] = [],
    label: number[] = [];
  const conceptIds: string[] = [];
  const skippedExamples: string[] = [];
  const st: PairStats = {
    concepts: concepts.length,
    conceptsWithPairs: 0,
    skippedNoSynonym: 0,
    names: 0,
    repeatedWithinConcept: 0,
    sharedNames: 0,
    sampledConcepts: 0,
    pairs: 0,
  };
  for (const c of concepts) {
    const mine: number[] = [];
    const here = new Set<number>();
    for (const raw of c.names) {
      const t = normalise(raw, lower);
      if (t === '') continue;
      let i = textIndex.get(t);
      if (i === undefined) {
        i = texts.length;
        texts.push(t);
        textIndex.set(t, i);
      }
      if (here.has(i)) {
        st.repeatedWithinConcept++;
        continue;
      }
      here.add(i);
      mine.push(i);
      owners.set(i, (owners.get(i) ?? 0) + 1);
    }
    st.names += mine.length;
    if (mine.length < 2) {
      st.skippedNoSynonym++;
      if (skippedExamples.length < 10) skippedExamples.push(`${c.where}: ${c.id} has ${mine.length === 0 ? 'no name' : 'one name'}`);
      continue;
    }
    const all: Array<[number, number]> = [];
    for (let a = 0; a < mine.length; a++) for (let b = a + 1; b < mine.length; b++) all.push([mine[a]!, mine[b]!]);
    const keep = all.length > cap ? sample(all.length, cap, r).map((k) => all[k]!) : all;
    if (all.length > cap) st.sampledConcepts++;
    const lab = conceptIds.length;
    conceptIds.push(c.id);
    for (const [a, b] of keep) {
      left.push(a);
      right.push(b);
      label.push(lab);
    }
  }
  for (const n of owners.values()) if (n > 1) st.sharedNames++;
  st.conceptsWithPairs = conceptIds.length;
  st.pairs = left.length;
  return {
    texts,
    left: Int32Array.from(left),
    right: Int32Array.from(right),
    label: Int32Array.from(label),
    conceptIds,
    stats: st,
    skippedExamples,
  };
}
