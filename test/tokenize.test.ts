import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HfWordPieceTokenizer, buildBertTokenizerJson, fromVocab, loadTokenizer } from '../src/tokenize/index.js';
import { tinyVocab } from './support/vocab.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIX = join(ROOT, 'test', 'fixtures', 'tokenizer');
const SHARED = resolve(ROOT, '..', 'shared', 'data');
const VOCAB = join(SHARED, 'vocab', 'bert-base-uncased-vocab.txt');
const NCBI = join(SHARED, 'ncbi-disease');
const haveShared = existsSync(VOCAB) && existsSync(NCBI);
if (!haveShared)
  console.warn('skipped: ../shared/data/vocab or ../shared/data/ncbi-disease absent (HF parity on the real vocabulary and corpus)');

type SettingKey = 'uncased' | 'cased' | 'lower_keep_accents';
interface Case {
  text: string;
  uncased: number[];
  cased: number[];
  lower_keep_accents: number[];
}
interface CasesFile {
  settings: Record<SettingKey, { do_lower_case: boolean; strip_accents: boolean | null }>;
  vocab_subset: Record<string, number>;
  cases: Case[];
}
const casesFile = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as CasesFile;
const SETTINGS: SettingKey[] = ['uncased', 'cased', 'lower_keep_accents'];

function subsetTokenizer(key: SettingKey): HfWordPieceTokenizer {
  const s = casesFile.settings[key];
  const vocab = Object.assign(Object.create(null) as Record<string, number>, casesFile.vocab_subset);
  return new HfWordPieceTokenizer(
    buildBertTokenizerJson(vocab, { lowercase: s.do_lower_case, stripAccents: s.strip_accents, tokenizeChineseChars: true }),
  );
}

function mismatches(tok: HfWordPieceTokenizer, key: SettingKey): string[] {
  const bad: string[] = [];
  for (const c of casesFile.cases) {
    const got = tok.encode(c.text);
    if (JSON.stringify(got) !== JSON.stringify(c[key]))
      bad.push(`${JSON.stringify(c.text)}: got ${JSON.stringify(got)} want ${JSON.stringify(c[key])}`);
  }
  return bad;
}

describe('hand-picked hard cases vs HF BertTokenizer (fixture vocabulary subset, no ../shared needed)', () => {
  it('has a sizeable set of cases', () => {
    expect(casesFile.cases.length).toBeGreaterThanOrEqual(200);
  });
  for (const key of SETTINGS) {
    it(`${key}: every case gives HF's ids`, () => {
      expect(mismatches(subsetTokenizer(key), key)).toEqual([]);
    });
  }
  it('BLINK markers stay single tokens, also next to words and after lower-casing', () => {
    const tok = subsetTokenizer('uncased');
    expect(tok.tokenize('[unused0] Breast Cancer [unused1]')).toEqual(['[unused0]', 'breast', 'cancer', '[unused1]']);
    expect(tok.tokenize('x[unused2]y')).toEqual(['x', '[unused2]', 'y']);
    expect(tok.encode('[UNUSED0] x')).toEqual([tok.special.cls, tok.special.unused0, tok.tokenToId('x'), tok.special.sep]);
    expect(tok.special).toMatchObject({ pad: 0, unused0: 1, unused1: 2, unused2: 3, unk: 100, cls: 101, sep: 102 });
  });
});

describe('loading a tokenizer.json written by HF tokenizers (fixture vocabulary subset)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-hfjson-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const json = readFileSync(join(FIX, 'hf-subset', 'tokenizer.json'), 'utf8');
  const configs: Array<[SettingKey, object | null]> = [
    ['uncased', null],
    ['cased', { do_lower_case: false }],
    ['lower_keep_accents', { do_lower_case: true, strip_accents: false }],
  ];
  for (const [key, cfg] of configs) {
    it(`${key}${cfg === null ? '' : ' (tokenizer_config.json overrides the normalizer)'}: HF ids, same hash as from a vocabulary`, () => {
      const d = join(dir, key);
      mkdirs(d);
      writeFileSync(join(d, 'tokenizer.json'), json);
      if (cfg !== null) writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(cfg));
      const tok = loadTokenizer(d);
      expect(mismatches(tok, key)).toEqual([]);
      expect(tok.hash).toBe(subsetTokenizer(key).hash);
      expect(tok.tokenize('[unused0] x [unused1]')).toEqual(['[unused0]', 'x', '[unused1]']);
    });
  }
  it('rejects a tokenizer.json whose model is not WordPiece', () => {
    const d = join(dir, 'bpe');
    mkdirs(d);
    writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ ...JSON.parse(json), model: { type: 'BPE', vocab: {}, merges: [] } }));
    expect(() => loadTokenizer(d)).toThrow(/expected WordPiece/);
  });
});

describe.skipIf(!haveShared)('HF parity on the real vocabulary (../shared)', () => {
  const uncased = haveShared ? fromVocab(VOCAB) : null;

  for (const key of SETTINGS) {
    it(`${key}: hard cases with the full bert-base-uncased vocabulary`, () => {
      const s = casesFile.settings[key];
      const tok = fromVocab(VOCAB, { lowercase: s.do_lower_case, ...(s.strip_accents === null ? {} : { stripAccents: s.strip_accents }) });
      expect(mismatches(tok, key)).toEqual([]);
    });
  }

  it('every title, abstract sentence and mention of NCBI-disease (train, dev, test)', () => {
    const tok = uncased!;
    const lines = readFileSync(join(FIX, 'ncbi-uncased.tsv'), 'utf8').split('\n');
    const split = /(?<=[.!?])\s+(?=[A-Z0-9([])/;
    const h = (text: string): string => createHash('sha1').update(tok.encode(text).join(',')).digest('hex').slice(0, 12);
    let docs: Doc[] = [];
    let next = 0;
    let units = 0;
    let tokens = 0;
    const bad: string[] = [];
    const t0 = performance.now();
    for (const line of lines) {
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('file ')) {
        docs = readPubtator(join(NCBI, line.slice(5)));
        next = 0;
        continue;
      }
      const [pmid, th, sh, mh] = line.split('\t') as [string, string, string, string];
      const doc = docs[next++];
      if (doc === undefined || doc.pmid !== pmid) {
        bad.push(`${pmid}: fixture document ${next} is ${doc?.pmid ?? 'missing'} in the corpus`);
        continue;
      }
      const sents = doc.abstract.split(split).filter((s) => s !== '');
      const texts = [doc.title, ...sents, ...doc.mentions];
      const want = [th, ...(sh === '' ? [] : sh.split(' ')), ...(mh === '' ? [] : mh.split(' '))];
      if (want.length !== texts.length) {
        bad.push(`${pmid}: ${texts.length} units, fixture has ${want.length}`);
        continue;
      }
      texts.forEach((t, i) => {
        units++;
        const got = h(t);
        tokens += tok.tokenize(t).length;
        if (got !== want[i]) bad.push(`${pmid} unit ${i} ${JSON.stringify(t.slice(0, 80))}: ${tok.tokenize(t).join(' ')}`);
      });
    }
    const ms = performance.now() - t0;
    console.log(`NCBI parity: ${units} units (${tokens} word pieces) in ${ms.toFixed(0)} ms (hashing + tokenizing twice)`);
    expect(bad.slice(0, 20)).toEqual([]);
    expect(units).toBeGreaterThan(14000);
  });

  it('HF-folder loading: vocab.txt (+ tokenizer_config.json) and tokenizer.json give the same ids and hash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'biofeg-tok-'));
    try {
      const vocabText = readFileSync(VOCAB, 'utf8');
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      for (const d of [a, b]) rmSync(d, { recursive: true, force: true });
      mkdirs(a, b);
      writeFileSync(join(a, 'vocab.txt'), vocabText);
      writeFileSync(join(a, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: true }));
      const fromTxt = loadTokenizer(a);
      // The tokenizer.json HF writes for bert-base-uncased, built here (no download).
      const json = buildBertTokenizerJson(fromTxt.vocabObject(), { lowercase: true, stripAccents: null, tokenizeChineseChars: true });
      json.added_tokens = json.added_tokens.filter((t) => !t.content.startsWith('[unused'));
      writeFileSync(join(b, 'tokenizer.json'), JSON.stringify(json));
      writeFileSync(join(b, 'vocab.txt'), 'not used when tokenizer.json exists\n');
      const fromJson = loadTokenizer(b);
      expect(fromJson.hash).toBe(fromTxt.hash);
      expect(fromJson.hash).toBe(uncased!.hash);
      for (const c of casesFile.cases) expect(fromJson.encode(c.text)).toEqual(c.uncased);
      // tokenizer_config.json overrides the normalizer of tokenizer.json, as BertTokenizerFast does.
      writeFileSync(join(b, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
      const casedJson = loadTokenizer(b);
      expect(casedJson.settings).toMatchObject({ lowercase: false, stripAccents: false });
      for (const c of casesFile.cases) expect(casedJson.encode(c.text)).toEqual(c.cased);
      expect(casedJson.hash).toBe(fromVocab(VOCAB, { lowercase: false }).hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function mkdirs(...dirs: string[]): void {
  for (const d of dirs) mkdirSync(d, { recursive: true });
}

interface Doc {
  pmid: string;
  title: string;
  abstract: string;
  mentions: string[];
}

/** Documents in file order, as the fixture script reads them (a blank line ends a document). */
function readPubtator(path: string): Doc[] {
  const docs: Doc[] = [];
  let cur: Doc | null = null;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') {
      cur = null;
      continue;
    }
    const m = /^(\d+)\|([ta])\|(.*)$/.exec(line);
    if (m) {
      const [, pmid, kind, text] = m as unknown as [string, string, string, string];
      if (cur === null || cur.pmid !== pmid) {
        cur = { pmid, title: '', abstract: '', mentions: [] };
        docs.push(cur);
      }
      if (kind === 't') cur.title = text;
      else cur.abstract = text;
      continue;
    }
    const cols = line.split('\t');
    if (cur !== null && cols.length >= 6 && cols[0] === cur.pmid) cur.mentions.push(cols[3]!);
  }
  return docs;
}

describe('fromVocab on a tiny vocabulary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-tiny-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tiny = tinyVocab('the', 'cat', '##s', 'dog', 'un', '##believ', '##able', '-', '.', 'cafe', 'café', 'a', 'b', '##a');
  const path = join(dir, 'vocab.txt');
  writeFileSync(path, tiny.join('\n') + '\n');

  it('splits into WordPieces and maps unknown words to [UNK]', () => {
    const tok = fromVocab(path);
    expect(tok.vocabSize).toBe(tiny.length);
    expect(tok.tokenize('The cats, unbelievable dog-cat.')).toEqual([
      'the',
      'cat',
      '##s',
      '[UNK]',
      'un',
      '##believ',
      '##able',
      'dog',
      '-',
      'cat',
      '.',
    ]);
    expect(tok.encode('the cat')).toEqual([5, 8, 9, 6]);
    expect(tok.encode('')).toEqual([5, 6]);
    expect(tok.convertTokensToIds(['cat', '##s', 'nope'])).toEqual([9, 10, 4]);
    expect(tok.special).toEqual({ pad: 0, unk: 4, cls: 5, sep: 6, unused0: 1, unused1: 2, unused2: 3 });
  });

  it('lower-cases and strips accents by default, keeps them when asked', () => {
    expect(fromVocab(path).tokenize('CAFÉ')).toEqual(['cafe']);
    expect(fromVocab(path, { lowercase: true, stripAccents: false }).tokenize('CAFÉ')).toEqual(['café']);
    expect(fromVocab(path, { lowercase: false }).tokenize('Cat cat')).toEqual(['[UNK]', 'cat']);
    // HF's BasicTokenizer NFC-normalises first: a decomposed é matches the precomposed vocab entry.
    expect(fromVocab(path, { lowercase: false }).tokenize('cafe\u0301')).toEqual(['café']);
    expect(fromVocab(path, { lowercase: true, stripAccents: false }).tokenize('CAFE\u0301')).toEqual(['café']);
  });

  it('the per-word WordPiece memo gives the same pieces on repeated and new words', () => {
    const tok = fromVocab(path);
    const first = tok.tokenize('cats unbelievable cats dog');
    expect(tok.tokenize('cats unbelievable cats dog')).toEqual(first);
    expect(tok.tokenize('cats')).toEqual(['cat', '##s']);
  });

  it('words longer than 100 characters become [UNK]', () => {
    const tok = fromVocab(path);
    expect(tok.tokenize('a'.repeat(100) + ' b')[0]).not.toBe('[UNK]');
    expect(tok.tokenize('a'.repeat(101) + ' b')).toEqual(['[UNK]', 'b']);
  });

  it('markers survive lower-casing and sit between words', () => {
    const tok = fromVocab(path);
    expect(tok.tokenize('THE[unused0]CAT [unused1]')).toEqual(['the', '[unused0]', 'cat', '[unused1]']);
    expect(tok.encode('[unused2]')).toEqual([5, 3, 6]);
  });

  it('hash is stable and changes with the vocabulary and the lower-casing', () => {
    const h = fromVocab(path).hash;
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(fromVocab(path).hash).toBe(h);
    expect(fromVocab(path, { lowercase: true }).hash).toBe(h);
    expect(fromVocab(path, { lowercase: false }).hash).not.toBe(h);
    expect(fromVocab(path, { lowercase: true, stripAccents: false }).hash).not.toBe(h);
    const path2 = join(dir, 'vocab2.txt');
    writeFileSync(path2, [...tiny, 'mouse'].join('\n') + '\n');
    expect(fromVocab(path2).hash).not.toBe(h);
    const path3 = join(dir, 'vocab3.txt');
    writeFileSync(path3, [...tiny.slice(0, -3), 'b', 'a', '##a'].join('\n') + '\n');
    expect(fromVocab(path3).hash).not.toBe(h);
    // CRLF line ends give the same vocabulary, hence the same hash (Python universal newlines).
    const path4 = join(dir, 'vocab4.txt');
    writeFileSync(path4, tiny.join('\r\n') + '\r\n');
    expect(fromVocab(path4).hash).toBe(h);
  });

  it('a vocabulary without [unused0..2] (PubMedBERT/SapBERT) maps the markers to [UNK], as BLINK does', () => {
    const p = join(dir, 'nomarkers.txt');
    writeFileSync(p, tiny.filter((t) => !t.startsWith('[unused')).join('\n') + '\n');
    const tok = fromVocab(p);
    expect(tok.markersInVocab).toBe(false);
    expect(tok.special).toEqual({ pad: 0, unk: 1, cls: 2, sep: 3, unused0: 1, unused1: 1, unused2: 1 });
    expect(tok.convertTokensToIds(['[unused0]', 'cat'])).toEqual([1, 6]);
    expect(fromVocab(path).markersInVocab).toBe(true);
  });

  it('rejects a vocabulary without [CLS]/[SEP]/[UNK] and an empty file', () => {
    const p = join(dir, 'bad.txt');
    writeFileSync(p, 'a\nb\n');
    expect(() => fromVocab(p)).toThrow(/\[CLS\]/);
    writeFileSync(p, '');
    expect(() => fromVocab(p)).toThrow(/empty/);
  });

  it('loadTokenizer reads vocab.txt with tokenizer_config.json settings, and errors on an empty folder', () => {
    const d = join(dir, 'model');
    mkdirs(d);
    writeFileSync(join(d, 'vocab.txt'), tiny.join('\n') + '\n');
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
    expect(loadTokenizer(d).tokenize('Cat cat')).toEqual(['[UNK]', 'cat']);
    expect(loadTokenizer(d, { lowercase: true }).tokenize('Cat cat')).toEqual(['cat', 'cat']);
    const empty = join(dir, 'empty');
    mkdirs(empty);
    expect(() => loadTokenizer(empty)).toThrow(/tokenizer\.json or vocab\.txt/);
  });
});
