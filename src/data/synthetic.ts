// A synthetic dataset of MedMentions' size in the arboEL layout (issue 21): for timing the whole
// schedule at scale, not for accuracy. Words are drawn from a WordPiece vocabulary; lengths follow
// real data; a share of val/test mentions link to entities no train mention links to (the
// zero-shot entities BioFEG generates features for). Same settings and seed: same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SettingsError } from '../errors.js';
import { mulberry32 } from '../models/rng.js';
import { readVocabFile } from '../tokenize/vocab.js';
import { writeFolderAtomic } from './atomic.js';

/** Scale 1: arboEL's MedMentions (st21pv) in round numbers. */
export const MEDMENTIONS_SIZE = { train: 120_000, val: 40_000, test: 40_000, entities: 35_000 } as const;

/**
 * Quantiles (probability -> words) measured once from ../shared/data: abstracts of NCBI disease and
 * BC5CDR (title + abstract, whitespace words), CTD disease definitions; sampled by interpolation.
 */
const DOC_WORDS: ReadonlyArray<readonly [number, number]> = [
  [0, 60],
  [0.1, 100],
  [0.25, 130],
  [0.5, 190],
  [0.75, 240],
  [0.9, 275],
  [0.99, 400],
  [1, 500],
];
const DESCRIPTION_WORDS: ReadonlyArray<readonly [number, number]> = [
  [0, 3],
  [0.1, 9],
  [0.25, 16],
  [0.5, 31],
  [0.75, 48],
  [0.9, 66],
  [0.99, 101],
  [1, 150],
];
/** Entity names (CTD: median 3 words) and mention spans (NCBI + BC5CDR: mostly 1-2 words). */
const TITLE_WORDS: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [0.1, 1],
  [0.25, 2],
  [0.5, 3],
  [0.75, 4],
  [0.9, 6],
  [1, 10],
];
const MENTION_WORDS: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [0.5, 1],
  [0.8, 2],
  [0.92, 3],
  [0.97, 4],
  [1, 7],
];
/** MedMentions has about 46 mentions per abstract (203k over 4,392), a mention every 4 words. */
const MENTIONS_PER_WORD = 0.24;
/**
 * Entity groups as shares of the pool: linked from train (MedMentions st21pv: about 18.5k of the
 * 35k dictionary), val-only, test-only, and never mentioned (dictionary only).
 */
const SEEN_SHARE = 0.53;
const VAL_ONLY_SHARE = 0.12;
const TEST_ONLY_SHARE = 0.12;
/** Share of val/test mentions linking to the split's own (train-unseen) entities. */
const UNSEEN_MENTION_SHARE = 0.42;
/** UMLS semantic types of st21pv, as categories. */
const CATEGORIES = [
  'T005',
  'T007',
  'T017',
  'T022',
  'T031',
  'T033',
  'T037',
  'T038',
  'T058',
  'T062',
  'T074',
  'T082',
  'T091',
  'T092',
  'T097',
  'T098',
  'T103',
  'T168',
  'T170',
  'T201',
  'T204',
];

export interface SyntheticOptions {
  /** Output folder (documents/, mentions/, synthetic.json), replaced atomically. */
  outDir: string;
  /** 1 = MedMentions' size; mentions scale with it. */
  scale: number;
  /** The entity pool's scale (default: scale). 1 with a small scale keeps the full pool for eval. */
  entityScale?: number;
  /** WordPiece vocab.txt whose whole words make up the text. */
  vocabPath: string;
  seed?: number;
}

export interface SplitCounts {
  train: number;
  val: number;
  test: number;
}

/** What a dataset of these settings holds (the generator's design, before any text). */
export interface SyntheticCounts {
  mentions: SplitCounts;
  entities: number;
  /** Entities some train mention links to, and the rest (what generate-features covers). */
  seenEntities: number;
  unseenEntities: number;
  /** test/val mentions of entities no train mention links to. */
  unseenMentions: { val: number; test: number };
}

export interface SyntheticManifest {
  format: 'biofeg-synthetic';
  version: 1;
  settings: { scale: number; entityScale: number; seed: number; vocab: string; vocabWords: number };
  counts: SyntheticCounts & { documents: SplitCounts };
  /** The same design at scale 1 (what an extrapolation to MedMentions aims at). */
  full: SyntheticCounts;
}

function quantile(table: ReadonlyArray<readonly [number, number]>, u: number): number {
  for (let i = 1; i < table.length; i++) {
    const [p1, v1] = table[i]!;
    const [p0, v0] = table[i - 1]!;
    if (u <= p1) return Math.round(v0 + ((u - p0) / (p1 - p0 || 1)) * (v1 - v0));
  }
  return table[table.length - 1]![1];
}

interface Plan {
  counts: SyntheticCounts;
  /** Entity index of every mention, per split. */
  links: Record<keyof SplitCounts, Int32Array>;
}

/** Which entity each mention links to; the counts follow from it. */
function plan(scale: number, entityScale: number, seed: number): Plan {
  const r = mulberry32(seed ^ 0x5eed);
  const n = (x: number, s: number) => Math.max(1, Math.round(x * s));
  const mentions = { train: n(MEDMENTIONS_SIZE.train, scale), val: n(MEDMENTIONS_SIZE.val, scale), test: n(MEDMENTIONS_SIZE.test, scale) };
  const entities = Math.max(4, Math.round(MEDMENTIONS_SIZE.entities * entityScale));
  const seenPool = Math.max(1, Math.round(entities * SEEN_SHARE));
  const valOnly = Math.max(1, Math.round(entities * VAL_ONLY_SHARE));
  const testOnly = Math.max(1, Math.round(entities * TEST_ONLY_SHARE));
  // Popularity is skewed (few entities take many mentions): u^2 favours low indices of a group.
  const pick = (from: number, size: number) => from + Math.floor(r() * r() * size);
  const train = new Int32Array(mentions.train);
  // Every seen-pool entity first (when there are mentions enough), then by popularity.
  for (let i = 0; i < train.length; i++) train[i] = i < seenPool ? i : pick(0, seenPool);
  // Shuffle, so a small scale does not favour the first entities' order in the documents.
  for (let i = train.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [train[i], train[j]] = [train[j]!, train[i]!];
  }
  const seen = new Uint8Array(entities);
  for (const e of train) seen[e] = 1;
  const heldOut = (count: number, own: number, ownSize: number) => {
    const out = new Int32Array(count);
    // Unseen: the split's own group; else an entity some train mention links to.
    for (let i = 0; i < count; i++) out[i] = r() < UNSEEN_MENTION_SHARE ? pick(own, ownSize) : train[Math.floor(r() * train.length)]!;
    return out;
  };
  const val = heldOut(mentions.val, seenPool, valOnly);
  const test = heldOut(mentions.test, seenPool + valOnly, testOnly);
  let seenEntities = 0;
  for (const s of seen) seenEntities += s;
  const unseenIn = (xs: Int32Array) => xs.reduce((a, e) => a + (seen[e] ? 0 : 1), 0);
  return {
    counts: {
      mentions,
      entities,
      seenEntities,
      unseenEntities: entities - seenEntities,
      unseenMentions: { val: unseenIn(val), test: unseenIn(test) },
    },
    links: { train, val, test },
  };
}

/** The counts a dataset of these settings has (cheap: no text). */
export function syntheticCounts(scale: number, entityScale = scale, seed = 52313): SyntheticCounts {
  return plan(scale, entityScale, seed).counts;
}

/** Whole lower-case words of a WordPiece vocabulary (no ## pieces, specials or digits). */
function wordsOf(vocabPath: string): string[] {
  const words = readVocabFile(vocabPath).filter((w) => /^[a-z]{2,}$/.test(w));
  if (words.length < 100)
    throw new SettingsError('vocabPath', `${vocabPath}: ${words.length} whole words; the generator needs at least 100`);
  return words;
}

function checkScale(field: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0 || v > 10) throw new SettingsError(field, `${field} must be in (0, 10], got ${v}`);
}

/** Writes the dataset (arboEL layout plus synthetic.json) into opts.outDir atomically; returns its manifest. */
export function generateSynthetic(opts: SyntheticOptions): SyntheticManifest {
  const seed = opts.seed ?? 52313;
  const entityScale = opts.entityScale ?? opts.scale;
  checkScale('scale', opts.scale);
  checkScale('entityScale', entityScale);
  if (!Number.isSafeInteger(seed)) throw new SettingsError('seed', `seed must be an integer, got ${seed}`);
  const words = wordsOf(opts.vocabPath);
  const p = plan(opts.scale, entityScale, seed);
  const r = mulberry32(seed);
  // Frequent words more often (vocabularies list them roughly by frequency).
  const word = () => words[Math.floor(r() * r() * words.length)]!;
  const sentence = (count: number) => Array.from({ length: count }, word).join(' ');

  const titles: string[][] = [];
  const entityLines: string[] = [];
  for (let e = 0; e < p.counts.entities; e++) {
    const t = Array.from({ length: Math.max(1, quantile(TITLE_WORDS, r())) }, word);
    titles.push(t);
    const id = `SYN:${String(e).padStart(7, '0')}`;
    entityLines.push(
      JSON.stringify({ document_id: id, title: t.join(' '), text: sentence(Math.max(1, quantile(DESCRIPTION_WORDS, r()))) }),
    );
  }
  const category = (e: number) => CATEGORIES[e % CATEGORIES.length]!;

  const docs: Record<keyof SplitCounts, string[]> = { train: [], val: [], test: [] };
  const ments: Record<keyof SplitCounts, string[]> = { train: [], val: [], test: [] };
  for (const split of ['train', 'val', 'test'] as const) {
    const links = p.links[split];
    let next = 0;
    while (next < links.length) {
      const docId = `${split}-${String(docs[split].length + 1).padStart(6, '0')}`;
      const length = quantile(DOC_WORDS, r());
      const k = Math.min(links.length - next, Math.max(1, Math.round(length * MENTIONS_PER_WORD)));
      // k mentions spread over the passage: filler words before each, the mention's words, filler after.
      const tokens: string[] = [];
      const gap = Math.max(1, Math.floor(length / k) - 2);
      for (let m = 0; m < k; m++) {
        for (let g = Math.floor(r() * gap) + 1; g > 0; g--) tokens.push(word());
        const e = links[next++]!;
        const title = titles[e]!;
        // A mention is the entity's name or a part of it (the first words), as surface forms often are.
        const span = Math.min(title.length, quantile(MENTION_WORDS, r()));
        const start = tokens.length;
        tokens.push(...title.slice(0, span));
        ments[split].push(
          JSON.stringify({
            mention_id: `${docId}.${m + 1}`,
            context_document_id: docId,
            label_document_id: `SYN:${String(e).padStart(7, '0')}`,
            start_index: start,
            end_index: start + span - 1,
            text: title.slice(0, span).join(' '),
            category: category(e),
          }),
        );
      }
      while (tokens.length < length) tokens.push(word());
      docs[split].push(
        JSON.stringify({ document_id: docId, title: `Synthetic ${split} passage ${docs[split].length + 1}`, text: tokens.join(' ') }),
      );
    }
  }

  const manifest: SyntheticManifest = {
    format: 'biofeg-synthetic',
    version: 1,
    settings: { scale: opts.scale, entityScale, seed, vocab: opts.vocabPath, vocabWords: words.length },
    counts: { ...p.counts, documents: { train: docs.train.length, val: docs.val.length, test: docs.test.length } },
    full: plan(1, 1, seed).counts,
  };
  const lines = (xs: string[]) => (xs.length ? `${xs.join('\n')}\n` : '');
  writeFolderAtomic(opts.outDir, (tmp) => {
    for (const sub of ['documents', 'mentions']) mkdirSync(join(tmp, sub));
    writeFileSync(join(tmp, 'documents', 'all_documents.json'), lines(entityLines));
    for (const split of ['train', 'val', 'test'] as const) {
      writeFileSync(join(tmp, 'documents', `${split}.json`), lines(docs[split]));
      writeFileSync(join(tmp, 'mentions', `${split}.json`), lines(ments[split]));
    }
    writeFileSync(join(tmp, 'synthetic.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  });
  return manifest;
}
