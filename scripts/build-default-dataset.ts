/**
 * Builds the project's built-in default dataset (data/default) in the arboEL layout that
 * `biofeg prepare` reads. Everything is generated from the concept rows in data/default/src
 * with a seeded PRNG written here, so the output is byte-identical on every run.
 *
 *   npx tsx scripts/build-default-dataset.ts [outDir]      (default: data/default)
 *
 * Layout written under outDir:
 *   documents/all_documents.json   one entity a line {document_id, title, text}
 *   documents/{train,val,test}.json one generated passage a line {document_id, title, text}
 *   mentions/{train,val,test}.json  one mention a line {mention_id, context_document_id,
 *                                   label_document_id, start_index, end_index, text, category}
 * start_index/end_index are inclusive positions in the whitespace-split passage text, and
 * text is exactly those tokens joined by single spaces (as the original data_process.py checks).
 */
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { allConcepts, type Concept, type ConceptType } from '../data/default/src/concepts.js';
import { mulberry32 } from '../src/models/rng.js';

export const DEFAULT_SEED = 20231206;
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** mulberry32: a tiny 32-bit PRNG; returns floats in [0, 1) (the project's one copy). */
export { mulberry32 };

type Rng = () => number;
const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

// ---------------------------------------------------------------------------------------------
// Sentence templates. Punctuation is a separate whitespace token so mention spans stay clean.
// `{m}` is the mention slot; templates are worded to read acceptably with singular or plural.

const TEMPLATES: Record<ConceptType, readonly string[]> = {
  Disease: [
    'The patient was diagnosed with {m} after several weeks of symptoms .',
    'A family history of {m} was reported by the mother .',
    'We reviewed the records of adults treated for {m} at two hospitals .',
    'Screening for {m} is advised in groups at high risk .',
    '{m} was suspected on admission and confirmed later .',
    'Symptoms of {m} improved within a month of therapy .',
    'The risk of {m} rose with age in this cohort .',
    'No evidence of {m} was found at follow-up .',
    'She had a long history of {m} and poor sleep .',
    'Complications of {m} included fatigue and weight loss .',
    'Deaths from {m} fell steadily over the study period .',
    'Children with {m} were enrolled in the trial .',
    'Clinical features suggested {m} rather than infection .',
    'The incidence of {m} differed between the two regions .',
    'In our clinic , {m} is usually managed by a specialist team .',
  ],
  Chemical: [
    'The patient was started on {m} at a low dose .',
    'Treatment with {m} was stopped because of side effects .',
    'Plasma levels of {m} were measured every morning .',
    'Cells were exposed to {m} for twenty four hours .',
    '{m} was given intravenously before the operation .',
    'Exposure to {m} has been linked with organ damage in animal studies .',
    'The dose of {m} was doubled after one week .',
    'Adverse reactions to {m} were recorded in the chart .',
    'A fresh solution of {m} was prepared each day .',
    'Patients receiving {m} were monitored for drug interactions .',
    'The combination of {m} with other agents was well tolerated .',
    'Urine concentrations of {m} peaked after six hours .',
  ],
  Gene: [
    'Mutations in {m} were detected in tumor samples .',
    'Expression of {m} was higher in affected tissue .',
    'Knockdown of {m} reduced cell growth in culture .',
    'Variants of {m} were associated with disease risk .',
    'Antibodies against {m} stained the cell membrane .',
    'Loss of {m} function led to abnormal signaling .',
    'Serum concentrations of {m} were raised in patients .',
    'We sequenced {m} in all members of the family .',
    'Binding of the ligand to {m} triggers downstream signals .',
    'The promoter of {m} was heavily methylated in these cells .',
    'Mice lacking {m} developed normally but aged early .',
    'Phosphorylation of {m} increased after stimulation .',
  ],
  Procedure: [
    'The diagnosis was confirmed by {m} .',
    'All patients underwent {m} before discharge .',
    'Samples were analysed using {m} in a central laboratory .',
    '{m} was performed under local anesthesia .',
    'Complications after {m} were rare .',
    'The team recommended {m} as the next step .',
    'Results of {m} were available within two days .',
    'He was referred for {m} by his family doctor .',
    'Training in {m} is part of the residency program .',
    'The cost of {m} varied between centers .',
    'Repeat {m} showed no change after six months .',
  ],
};

/** Sentences with a definitional apposition; `{d}` is a clipped definition of the concept. */
const APPOSITION_TEMPLATES: readonly string[] = [
  'We discuss {m} , {d} , in the review below .',
  'Here {m} refers to {d} .',
  'The term {m} ( {d} ) was used throughout the report .',
];

/** Sentences naming a concept in full and then by abbreviation. */
const ABBREVIATION_TEMPLATES: readonly string[] = [
  'We studied {m} ( {a} ) in a large registry .',
  'Patients with a record of {m} ( {a} ) were included , and {a2} was coded from notes .',
  'The role of {m} ( {a} ) remains debated .',
];

const FILLERS: readonly string[] = [
  'The study was approved by the local ethics board .',
  'Follow-up lasted twelve months .',
  'Data were collected from electronic health records .',
  'Written consent was obtained from every participant .',
  'Two reviewers extracted the data independently .',
  'The findings need confirmation in larger groups .',
  'Statistical analysis used standard methods .',
  'Baseline characteristics were similar between groups .',
  'The authors declare no competing interests .',
  'Further work is planned at other sites .',
];

// ---------------------------------------------------------------------------------------------
// Surface forms.

/** Head words after which an English plural reads naturally. */
const PLURAL_HEADS = new Set([
  'cancer',
  'carcinoma',
  'tumor',
  'lymphoma',
  'leukemia',
  'melanoma',
  'glioblastoma',
  'infection',
  'stroke',
  'aneurysm',
  'attack',
  'ulcer',
  'disorder',
  'syndrome',
  'disease',
  'infarction',
  'embolism',
  'effusion',
  'cataract',
  'migraine',
  'receptor',
  'kinase',
  'enzyme',
  'protein',
  'factor',
  'hormone',
  'peptide',
  'antibody',
  'oncogene',
  'gene',
  'biopsy',
  'scan',
  'test',
  'assay',
  'examination',
  'exam',
  'transplantation',
  'transplant',
  'section',
  'arthroplasty',
  'intervention',
  'replacement',
  'angiography',
  'intubation',
  'transfusion',
  'ablation',
  'cardioversion',
  'reaction',
  'colonoscopy',
  'bronchoscopy',
  'appendectomy',
  'hysterectomy',
  'mastectomy',
  'lumpectomy',
  'tonsillectomy',
  'prostatectomy',
  'cholecystectomy',
  'mammography',
  'puncture',
  'aspiration',
  'count',
  'salt',
  'inhibitor',
  'antagonist',
  'ligand',
  'reductase',
  'synthase',
  'dehydrogenase',
  'peroxidase',
  'hydroxylase',
  'glycoprotein',
  'fever',
  'anemia',
]);

function pluralWord(w: string): string {
  if (/[^aeiou]y$/.test(w)) return `${w.slice(0, -1)}ies`;
  if (/(s|x|ch|sh)$/.test(w)) return `${w}es`;
  return `${w}s`;
}

function pluralOf(form: string): string | null {
  const words = form.split(' ');
  const last = words[words.length - 1] as string;
  if (!PLURAL_HEADS.has(last.toLowerCase())) return null;
  words[words.length - 1] = pluralWord(last);
  return words.join(' ');
}

/** One typo (swap, drop, doubling or vowel change) in a word of 5+ letters; null if none fits. */
function misspell(rng: Rng, form: string): string | null {
  const words = form.split(' ');
  const idx = words.map((w, i) => (/^[A-Za-z]{5,}$/.test(w) ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) return null;
  const wi = pick(rng, idx);
  const w = words[wi] as string;
  const p = randInt(rng, 1, w.length - 2); // never touch the first letter
  let out: string;
  switch (randInt(rng, 0, 3)) {
    case 0:
      out = w.slice(0, p) + w[p + 1] + w[p] + w.slice(p + 2);
      break; // swap
    case 1:
      out = w.slice(0, p) + w.slice(p + 1);
      break; // drop
    case 2:
      out = w.slice(0, p) + w[p] + w.slice(p);
      break; // double
    default: {
      const vowels = 'aeiou';
      const c = w[p] as string;
      const lower = c.toLowerCase();
      const repl = vowels.includes(lower) ? (vowels[(vowels.indexOf(lower) + 1) % 5] as string) : 'e';
      out = w.slice(0, p) + (c === lower ? repl : repl.toUpperCase()) + w.slice(p + 1);
    }
  }
  if (out === w) return null;
  words[wi] = out;
  return words.join(' ');
}

const titleCase = (s: string): string =>
  s
    .split(' ')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(' ');

export type FormKind = 'name' | 'synonym' | 'abbreviation' | 'misspelling' | 'plural' | 'case';

/** A surface form of `c`, drawn with fixed weights; falls back to the preferred name. */
function surfaceForm(rng: Rng, c: Concept): { form: string; kind: FormKind } {
  const r = rng();
  const base = c.synonyms.length > 0 && rng() < 0.4 ? pick(rng, c.synonyms) : c.name;
  if (r < 0.28) return { form: c.name, kind: 'name' };
  if (r < 0.52 && c.synonyms.length > 0) return { form: pick(rng, c.synonyms), kind: 'synonym' };
  if (r < 0.68 && c.abbreviations.length > 0) return { form: pick(rng, c.abbreviations), kind: 'abbreviation' };
  if (r < 0.78) {
    const m = misspell(rng, base);
    if (m) return { form: m, kind: 'misspelling' };
  }
  if (r < 0.86) {
    const p = pluralOf(base);
    if (p) return { form: p, kind: 'plural' };
  }
  if (r < 0.96) {
    const v = randInt(rng, 0, 2);
    const form = v === 0 ? titleCase(base) : v === 1 ? base.toUpperCase() : base.toLowerCase();
    if (form !== base) return { form, kind: 'case' };
  }
  return { form: base, kind: base === c.name ? 'name' : 'synonym' };
}

const CLIP_STOP = new Set([
  'a',
  'an',
  'the',
  'of',
  'that',
  'and',
  'or',
  'in',
  'to',
  'by',
  'with',
  'for',
  'from',
  'on',
  'at',
  'into',
  'as',
  'is',
  'are',
  'which',
  'where',
  'when',
  'who',
  'its',
  'their',
  'between',
  'after',
  'before',
  'during',
  'most',
  'more',
  'often',
  'usually',
  'but',
  'so',
  'than',
  'mainly',
  'very',
]);

/** The definition as a lower-cased clause of at most `n` words, punctuation spaced out. */
function definitionClip(def: string, n: number): string {
  const words = def
    .replace(/[.]$/, '')
    .replace(/([,;:()])/g, ' $1 ')
    .split(/\s+/)
    .filter(Boolean);
  const clipped = words.slice(0, n);
  // End on a content word: no trailing punctuation or function word.
  while (
    clipped.length > 1 &&
    (/^[,;:(]$/.test(clipped[clipped.length - 1] as string) || CLIP_STOP.has(clipped[clipped.length - 1] as string))
  )
    clipped.pop();
  // Drop an unbalanced "(" left by clipping.
  const opens = clipped.filter((w) => w === '(').length - clipped.filter((w) => w === ')').length;
  const text = opens > 0 ? clipped.filter((w) => w !== '(').join(' ') : clipped.join(' ');
  return text.charAt(0).toLowerCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Passage assembly with token-position bookkeeping.

interface MentionOut {
  mention_id: string;
  context_document_id: string;
  label_document_id: string;
  start_index: number;
  end_index: number;
  text: string;
  category: ConceptType;
}
interface DocOut {
  document_id: string;
  title: string;
  text: string;
}

class Passage {
  readonly tokens: string[] = [];
  readonly spans: { start: number; end: number; concept: Concept }[] = [];
  /** Appends a template; `{m}`, `{a}`, `{a2}` become mentions of `c`; `{d}` plain text. */
  add(template: string, c: Concept | null, slots: Record<string, string> = {}): void {
    for (const piece of template.split(' ')) {
      const slot = /^\{(m|a|a2|d)\}$/.exec(piece)?.[1];
      if (!slot) {
        this.tokens.push(piece);
        continue;
      }
      const value = slots[slot] as string;
      const words = value.split(' ');
      if (slot !== 'd' && c) this.spans.push({ start: this.tokens.length, end: this.tokens.length + words.length - 1, concept: c });
      this.tokens.push(...words);
    }
  }
}

/** Writes the sentence(s) for one mention request of concept `c` (1 or 2 mentions). */
function addSentence(rng: Rng, p: Passage, c: Concept): number {
  const r = rng();
  if (r < 0.1 && c.abbreviations.length > 0) {
    const a = pick(rng, c.abbreviations);
    const full = rng() < 0.7 ? c.name : c.synonyms.length > 0 ? pick(rng, c.synonyms) : c.name;
    const t = pick(rng, ABBREVIATION_TEMPLATES);
    p.add(t, c, { m: full, a, a2: a });
    return t.includes('{a2}') ? 3 : 2;
  }
  const { form } = surfaceForm(rng, c);
  if (r < 0.22) {
    p.add(pick(rng, APPOSITION_TEMPLATES), c, { m: form, d: definitionClip(c.definition, randInt(rng, 6, 11)) });
    return 1;
  }
  p.add(pick(rng, TEMPLATES[c.type]), c, { m: form });
  return 1;
}

export interface SplitPlan {
  seen: Concept[];
  unseenVal: Concept[];
  unseenTest: Concept[];
}

/** Held-out concepts, stratified by type: ~17% only in test, ~8% only in val. */
export function planSplits(concepts: readonly Concept[], rng: Rng): SplitPlan {
  const plan: SplitPlan = { seen: [], unseenVal: [], unseenTest: [] };
  const types: ConceptType[] = ['Disease', 'Chemical', 'Gene', 'Procedure'];
  for (const t of types) {
    const group = shuffle(
      rng,
      concepts.filter((c) => c.type === t),
    );
    const nTest = Math.round(group.length * 0.17);
    const nVal = Math.round(group.length * 0.08);
    plan.unseenTest.push(...group.slice(0, nTest));
    plan.unseenVal.push(...group.slice(nTest, nTest + nVal));
    plan.seen.push(...group.slice(nTest + nVal));
  }
  const byId = (a: Concept, b: Concept): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  plan.seen.sort(byId);
  plan.unseenVal.sort(byId);
  plan.unseenTest.sort(byId);
  return plan;
}

/** How many mention requests each split draws from each concept. */
function requests(rng: Rng, plan: SplitPlan): Record<Split, Concept[]> {
  const out: Record<Split, Concept[]> = { train: [], val: [], test: [] };
  for (const c of plan.seen) for (let i = randInt(rng, 5, 9); i > 0; i--) out.train.push(c);
  for (const c of plan.seen) if (rng() < 0.8) out.val.push(c);
  for (const c of plan.unseenVal) for (let i = randInt(rng, 2, 4); i > 0; i--) out.val.push(c);
  for (const c of plan.seen) if (rng() < 0.9) out.test.push(c);
  for (const c of plan.unseenTest) for (let i = randInt(rng, 2, 4); i > 0; i--) out.test.push(c);
  for (const s of SPLITS) shuffle(rng, out[s]);
  return out;
}

function buildSplit(rng: Rng, split: Split, reqs: readonly Concept[]): { docs: DocOut[]; mentions: MentionOut[] } {
  const docs: DocOut[] = [];
  const mentions: MentionOut[] = [];
  let i = 0;
  while (i < reqs.length) {
    const n = Math.min(randInt(rng, 1, 3), reqs.length - i);
    const p = new Passage();
    const fillerAt = rng() < 0.35 ? randInt(rng, 0, n) : -1;
    for (let k = 0; k <= n; k++) {
      if (k === fillerAt) p.add(pick(rng, FILLERS), null);
      if (k < n) addSentence(rng, p, reqs[i + k] as Concept);
    }
    i += n;
    const docId = `${split}-${String(docs.length + 1).padStart(4, '0')}`;
    const text = p.tokens.join(' ');
    docs.push({ document_id: docId, title: `Generated ${split} passage ${docs.length + 1}`, text });
    p.spans.forEach((s, k) => {
      mentions.push({
        mention_id: `${docId}.${k + 1}`,
        context_document_id: docId,
        label_document_id: s.concept.id,
        start_index: s.start,
        end_index: s.end,
        text: p.tokens.slice(s.start, s.end + 1).join(' '),
        category: s.concept.type,
      });
    });
  }
  return { docs, mentions };
}

const jsonLines = (rows: readonly object[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** Writes to a temp file beside `path`, then renames, so a failed run leaves no partial file. */
function writeAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface DatasetSummary {
  concepts: number;
  byType: Record<ConceptType, number>;
  documents: Record<Split, number>;
  mentions: Record<Split, number>;
  unseenMentions: Record<Split, number>;
  unseenConcepts: { val: number; test: number };
}

/** Generates the whole dataset into `outDir` and returns its counts. Deterministic in `seed`. */
export function buildDefaultDataset(outDir: string, seed: number = DEFAULT_SEED): DatasetSummary {
  const rng = mulberry32(seed);
  const concepts = allConcepts();
  const plan = planSplits(concepts, rng);
  const reqs = requests(rng, plan);
  const byType = { Disease: 0, Chemical: 0, Gene: 0, Procedure: 0 } as Record<ConceptType, number>;
  for (const c of concepts) byType[c.type]++;

  const files: [string, string][] = [
    ['documents/all_documents.json', jsonLines(concepts.map((c) => ({ document_id: c.id, title: c.name, text: c.definition })))],
  ];
  const summary: DatasetSummary = {
    concepts: concepts.length,
    byType,
    documents: { train: 0, val: 0, test: 0 },
    mentions: { train: 0, val: 0, test: 0 },
    unseenMentions: { train: 0, val: 0, test: 0 },
    unseenConcepts: { val: plan.unseenVal.length, test: plan.unseenTest.length },
  };
  const trainLabels = new Set<string>();
  for (const split of SPLITS) {
    const { docs, mentions } = buildSplit(rng, split, reqs[split]);
    files.push([`documents/${split}.json`, jsonLines(docs)], [`mentions/${split}.json`, jsonLines(mentions)]);
    if (split === 'train') for (const m of mentions) trainLabels.add(m.label_document_id);
    summary.documents[split] = docs.length;
    summary.mentions[split] = mentions.length;
    summary.unseenMentions[split] = mentions.filter((m) => !trainLabels.has(m.label_document_id)).length;
  }
  for (const [rel, data] of files) writeAtomic(join(outDir, rel), data);
  return summary;
}

export const DEFAULT_OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'default');

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? DEFAULT_OUT_DIR);
  const s = buildDefaultDataset(out);
  console.log(`wrote ${out}`);
  console.log(JSON.stringify(s, null, 2));
}
