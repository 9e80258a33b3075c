/**
 * The built-in default dataset (data/default): its files, its knowledge base, its splits, its
 * WordPiece vocabulary, and the determinism of the two scripts that build them.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { allConcepts } from '../data/default/src/concepts.js';
import { buildDefaultDataset, mulberry32 } from '../scripts/build-default-dataset.js';
import { basicTokenize, buildVocab, SPECIAL_TOKENS, wordpieceWord } from '../scripts/build-vocab.js';

const ROOT = resolve(import.meta.dirname, '..');
const DATA = join(ROOT, 'data', 'default');
const SPLITS = ['train', 'val', 'test'] as const;

interface Doc {
  document_id: string;
  title: string;
  text: string;
}
interface Mention {
  mention_id: string;
  context_document_id: string;
  label_document_id: string;
  start_index: number;
  end_index: number;
  text: string;
  category: string;
}

function readLines<T>(rel: string): T[] {
  const raw = readFileSync(join(DATA, rel), 'utf8');
  if (!raw.endsWith('\n') || raw.includes('\r')) throw new Error(`${rel}: expected LF-terminated lines`);
  return raw
    .slice(0, -1)
    .split('\n')
    .map((line, i) => {
      if (!line.trim()) throw new Error(`${rel}:${i + 1}: empty line`);
      return JSON.parse(line) as T;
    });
}

const entities = readLines<Doc>('documents/all_documents.json');
const contextDocs = Object.fromEntries(SPLITS.map((s) => [s, readLines<Doc>(`documents/${s}.json`)])) as Record<
  (typeof SPLITS)[number],
  Doc[]
>;
const mentions = Object.fromEntries(SPLITS.map((s) => [s, readLines<Mention>(`mentions/${s}.json`)])) as Record<
  (typeof SPLITS)[number],
  Mention[]
>;
const vocabLines = readFileSync(join(DATA, 'vocab.txt'), 'utf8').split('\n').slice(0, -1);
const vocab = new Set(vocabLines);
const concepts = allConcepts();
const entityById = new Map(entities.map((e) => [e.document_id, e]));
const conceptById = new Map(concepts.map((c) => [c.id, c]));
const trainLabels = new Set(mentions.train.map((m) => m.label_document_id));

function allTexts(): string[] {
  return [...entities, ...SPLITS.flatMap((s) => contextDocs[s])].flatMap((d) => [d.title, d.text]);
}

describe('default dataset files', () => {
  it('documents have string fields and unique ids; context ids never clash with entity ids', () => {
    const ids = new Set<string>();
    for (const d of [...entities, ...SPLITS.flatMap((s) => contextDocs[s])]) {
      expect(typeof d.document_id).toBe('string');
      expect(typeof d.title).toBe('string');
      expect(typeof d.text).toBe('string');
      expect(ids.has(d.document_id), `duplicated document id ${d.document_id}`).toBe(false);
      ids.add(d.document_id);
    }
  });

  it('every mention span matches its text (inclusive whitespace-token positions)', () => {
    const mentionIds = new Set<string>();
    for (const s of SPLITS) {
      const docs = new Map(contextDocs[s].map((d) => [d.document_id, d]));
      for (const m of mentions[s]) {
        expect(mentionIds.has(m.mention_id)).toBe(false);
        mentionIds.add(m.mention_id);
        const doc = docs.get(m.context_document_id);
        expect(doc, `${m.mention_id}: context document in ${s}`).toBeDefined();
        const text = (doc as Doc).text;
        // Single spaces only, so Python's str.split() and split(' ') agree.
        expect(/^\S+( \S+)*$/.test(text), `${m.context_document_id}: single-spaced text`).toBe(true);
        const tokens = text.split(' ');
        expect(Number.isInteger(m.start_index) && Number.isInteger(m.end_index)).toBe(true);
        expect(m.start_index).toBeGreaterThanOrEqual(0);
        expect(m.end_index).toBeGreaterThanOrEqual(m.start_index);
        expect(m.end_index).toBeLessThan(tokens.length);
        expect(tokens.slice(m.start_index, m.end_index + 1).join(' ')).toBe(m.text);
      }
    }
  });

  it('label ids exist and the category is the concept type', () => {
    for (const s of SPLITS)
      for (const m of mentions[s]) {
        expect(entityById.has(m.label_document_id), `${m.mention_id}: ${m.label_document_id}`).toBe(true);
        expect(m.category).toBe(conceptById.get(m.label_document_id)?.type);
      }
  });

  it('sizes: train 2000-3000, val 300-500, test 400-600 mentions; under 3 MB on disk', () => {
    expect(mentions.train.length).toBeGreaterThanOrEqual(2000);
    expect(mentions.train.length).toBeLessThanOrEqual(3000);
    expect(mentions.val.length).toBeGreaterThanOrEqual(300);
    expect(mentions.val.length).toBeLessThanOrEqual(500);
    expect(mentions.test.length).toBeGreaterThanOrEqual(400);
    expect(mentions.test.length).toBeLessThanOrEqual(600);
    const size = (p: string): number =>
      statSync(p).isDirectory() ? readdirSync(p).reduce((a, f) => a + size(join(p, f)), 0) : statSync(p).size;
    expect(size(DATA)).toBeLessThan(3 * 1024 * 1024);
  });
});

describe('default knowledge base', () => {
  it('has >= 300 concepts of all four types, each with stable id, name and one-sentence definition', () => {
    expect(concepts.length).toBeGreaterThanOrEqual(300);
    const types = new Map<string, number>();
    for (const c of concepts) {
      types.set(c.type, (types.get(c.type) ?? 0) + 1);
      expect(c.id).toMatch(/^BF:\d{6}$/);
      expect(c.name.trim()).toBe(c.name);
      expect(c.name.length).toBeGreaterThan(0);
      expect(c.definition).toMatch(/^[A-Z].*\.$/);
      expect(c.definition.split(/\.\s/).length, `${c.id}: one sentence`).toBe(1);
    }
    for (const t of ['Disease', 'Chemical', 'Gene', 'Procedure']) expect(types.get(t) ?? 0).toBeGreaterThanOrEqual(50);
  });

  it('all_documents.json is the knowledge base: title = preferred name, text = definition', () => {
    expect(entities.map((e) => e.document_id)).toEqual(concepts.map((c) => c.id));
    for (const e of entities) {
      const c = conceptById.get(e.document_id);
      expect(e.title).toBe(c?.name);
      expect(e.text).toBe(c?.definition);
    }
  });

  it('holds ambiguous abbreviations that the test split exercises', () => {
    const owners = new Map<string, Set<string>>();
    for (const c of concepts)
      for (const a of c.abbreviations) {
        if (!owners.has(a)) owners.set(a, new Set());
        owners.get(a)?.add(c.id);
      }
    for (const a of ['MS', 'RA', 'PE', 'CAD', 'ALS']) expect(owners.get(a)?.size ?? 0, a).toBeGreaterThanOrEqual(2);
    expect(owners.get('MS')?.size).toBeGreaterThanOrEqual(3);
    const ambiguous = mentions.test.filter((m) => (owners.get(m.text)?.size ?? 0) >= 2);
    expect(ambiguous.length).toBeGreaterThanOrEqual(10);
  });
});

describe('default splits and surface forms', () => {
  it('>= 30% of test mentions link to entities unseen in train; val has unseen ones too', () => {
    const unseen = (s: 'val' | 'test'): number => mentions[s].filter((m) => !trainLabels.has(m.label_document_id)).length;
    expect(unseen('test') / mentions.test.length).toBeGreaterThanOrEqual(0.3);
    expect(unseen('val')).toBeGreaterThanOrEqual(50);
  });

  it('mentions use names, synonyms, abbreviations, case variants and other variants (misspellings, plurals)', () => {
    const all = SPLITS.flatMap((s) => mentions[s]);
    let name = 0,
      synonym = 0,
      abbreviation = 0,
      caseVariant = 0,
      other = 0;
    for (const m of all) {
      const c = conceptById.get(m.label_document_id);
      if (!c) throw new Error(m.label_document_id);
      const forms = [c.name, ...c.synonyms];
      if (m.text === c.name) name++;
      else if (c.synonyms.includes(m.text)) synonym++;
      else if (c.abbreviations.includes(m.text)) abbreviation++;
      else if (forms.some((f) => f.toLowerCase() === m.text.toLowerCase())) caseVariant++;
      else other++;
    }
    for (const [k, v] of Object.entries({ name, synonym, abbreviation, caseVariant, other })) {
      expect(v / all.length, k).toBeGreaterThan(0.05);
    }
  });
});

describe('default WordPiece vocabulary', () => {
  it('has BERT special tokens at BERT ids and 4,000-8,000 unique entries', () => {
    SPECIAL_TOKENS.forEach((t, i) => expect(vocabLines[i]).toBe(t));
    expect(vocabLines[0]).toBe('[PAD]');
    expect(vocabLines.slice(1, 4)).toEqual(['[unused0]', '[unused1]', '[unused2]']);
    expect(vocabLines.slice(11, 15)).toEqual(['[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(vocab.size).toBe(vocabLines.length);
    expect(vocabLines.length).toBeGreaterThanOrEqual(4000);
    expect(vocabLines.length).toBeLessThanOrEqual(8000);
    const cfg = JSON.parse(readFileSync(join(DATA, 'tokenizer_config.json'), 'utf8')) as { do_lower_case: boolean };
    expect(cfg.do_lower_case).toBe(true);
  });

  it('covers every character and never yields [UNK] on the dataset words (greedy longest match)', () => {
    const words = new Set<string>();
    for (const t of [...allTexts(), ...SPLITS.flatMap((s) => mentions[s].map((m) => m.text))])
      for (const w of basicTokenize(t)) words.add(w);
    for (const w of words) {
      for (const ch of w) {
        expect(vocab.has(ch), `char ${ch}`).toBe(true);
        expect(vocab.has(`##${ch}`), `char ##${ch}`).toBe(true);
      }
      expect(wordpieceWord(w, vocab)).not.toContain('[UNK]');
    }
    expect(basicTokenize('Ménière  Guillain-Barré\tSYNDROME')).toEqual(['meniere', 'guillain', '-', 'barre', 'syndrome']);
  });

  it('agrees with Hugging Face tokenizers.js (BertNormalizer + BertPreTokenizer + WordPiece) and has no [UNK]', () => {
    const ids: Record<string, number> = {};
    vocabLines.forEach((t, i) => {
      ids[t] = i;
    });
    const tokenizer = new Tokenizer(
      {
        version: '1.0',
        added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => ({
          id: ids[t],
          content: t,
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: false,
          special: true,
        })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: null,
        decoder: null,
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
      },
      { do_lower_case: true },
    );
    for (const t of allTexts()) {
      const hf = tokenizer.tokenize(t);
      expect(hf).not.toContain('[UNK]');
      expect(basicTokenize(t).flatMap((w) => wordpieceWord(w, vocab))).toEqual(hf);
    }
  });
});

describe('default dataset build scripts', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'biofeg-default-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('mulberry32 is a fixed sequence', () => {
    const r = mulberry32(1);
    const xs = [r(), r(), r()];
    const r2 = mulberry32(1);
    expect([r2(), r2(), r2()]).toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('regenerating the dataset and the vocab gives byte-identical files', () => {
    const summary = buildDefaultDataset(tmp);
    expect(summary.mentions.test).toBe(mentions.test.length);
    const files = ['documents/all_documents.json', ...SPLITS.flatMap((s) => [`documents/${s}.json`, `mentions/${s}.json`])];
    for (const f of files) expect(readFileSync(join(tmp, f)).equals(readFileSync(join(DATA, f))), f).toBe(true);
    buildVocab(tmp, tmp);
    for (const f of ['vocab.txt', 'tokenizer_config.json'])
      expect(readFileSync(join(tmp, f)).equals(readFileSync(join(DATA, f))), f).toBe(true);
  });

  it('a different seed gives a different dataset (the seed is really used)', () => {
    const other = join(tmp, 'other');
    buildDefaultDataset(other, 7);
    expect(readFileSync(join(other, 'mentions/train.json')).equals(readFileSync(join(DATA, 'mentions/train.json')))).toBe(false);
  });
});
