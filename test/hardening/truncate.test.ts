// Issue 16, class 6: a long text is not tokenised in full before it is cut to a known length.
// Property: cutting at the places truncate.ts cuts never changes the ids (checked against full
// tokenisation on random texts full of the hard cases: specials, marker words, punctuation,
// accents, CJK, control characters), and a huge line costs only its prefix.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HfWordPieceTokenizer, buildBertTokenizerJson } from '../../src/tokenize/index.js';
import { contextRepresentation, candidateRepresentation } from '../../src/data/blink-inputs.js';
import { encodeTruncated, tokenizeHead, tokenizeTail } from '../../src/tokenize/truncate.js';
import type { WordPieceTokenizer } from '../../src/tokenize/types.js';

const cases = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tokenizer', 'cases.json'), 'utf8')) as {
  vocab_subset: Record<string, number>;
};
const vocab = Object.assign(Object.create(null) as Record<string, number>, cases.vocab_subset);
const toks = [true, false].map(
  (lowercase) => new HfWordPieceTokenizer(buildBertTokenizerJson(vocab, { lowercase, stripAccents: null, tokenizeChineseChars: true })),
);
const words = Object.keys(vocab)
  .filter((w) => !w.startsWith('##'))
  .slice(0, 200);

const cut = (ids: number[], max: number, sep: number): number[] => (ids.length > max ? [...ids.slice(0, max - 1), sep] : ids);

const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...words) },
  { weight: 4, arbitrary: fc.constantFrom(' ', ' ', '  ', '\t', '\n', '\r\n') },
  { weight: 3, arbitrary: fc.constantFrom('.', ',', '-', '(', ')', '[', ']', '#', '/', "'", '"', '!', '?', ':', ';') },
  { weight: 2, arbitrary: fc.constantFrom('[unused0]', '[UNUSED0]', '[unused1]', '[CLS]', '[SEP]', '[MASK]', '[Unused2]', '[x]', '[') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'é',
      'É',
      'ü',
      'e\u0301',
      '\u0301',
      'Sjögren',
      'İ',
      'ß',
      'ﬁ',
      '中',
      '文',
      '𠀀',
      '\u0000',
      '\u200b',
      '\ufffd',
      '\u00a0',
      '\u2028',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const text = fc.array(piece, { maxLength: 120 }).map((xs) => xs.join(''));

describe('encodeTruncated equals encode-then-cut', () => {
  for (const [i, tok] of toks.entries()) {
    it(`on random hard texts (${i === 0 ? 'uncased' : 'cased'}), cutting early`, () => {
      fc.assert(
        fc.property(text, fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 30 }), (t, max, minPrefix) => {
          const want = cut(tok.encode(t), max, tok.special.sep);
          const withPunct = encodeTruncated(tok, t, max, tok.specialTokens, minPrefix);
          const spacesOnly = encodeTruncated(tok, t, max, null, minPrefix);
          expect(withPunct).toEqual(want);
          expect(spacesOnly).toEqual(want);
        }),
        { seed: 1616 + i, numRuns: 1500 },
      );
    });
  }

  it('a 20 MB line is cut from its prefix: the same ids as full tokenisation of a 200 KB one, far faster', () => {
    const tok = toks[0]!;
    const sentence = `${words.slice(0, 50).join(' ')}. `;
    const small = sentence.repeat(Math.ceil(200_000 / sentence.length));
    expect(tok.encodeTruncated(small, 128)).toEqual(cut(tok.encode(small), 128, tok.special.sep));
    const huge = sentence.repeat(Math.ceil(20e6 / sentence.length));
    const t0 = performance.now();
    const ids = tok.encodeTruncated(huge, 128);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ids).toEqual(tok.encodeTruncated(small, 128));
    // A long run with no cut point at all still gives the right answer (tokenised in full).
    const noCut = 'a'.repeat(300_000);
    expect(tok.encodeTruncated(noCut, 16)).toEqual(cut(tok.encode(noCut), 16, tok.special.sep));
  });
});

describe('tokenizeHead / tokenizeTail equal slices of the full tokenisation', () => {
  for (const [i, tok] of toks.entries()) {
    it(`on random hard texts (${i === 0 ? 'uncased' : 'cased'})`, () => {
      fc.assert(
        fc.property(text, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 30 }), (t, n, minChars) => {
          const full = tok.tokenize(t);
          expect(tokenizeHead(tok, t, n, tok.specialTokens, minChars)).toEqual(full.slice(0, n));
          expect(tokenizeTail(tok, t, n, tok.specialTokens, minChars)).toEqual(n === 0 ? [] : full.slice(-n));
          expect(tokenizeTail(tok, t, n, null, minChars)).toEqual(n === 0 ? [] : full.slice(-n));
        }),
        { seed: 1717 + i, numRuns: 1500 },
      );
    });
  }
});

describe('BLINK windows from capped pieces equal those from all pieces', () => {
  // A tokenizer whose pieces are the space-separated words, so any piece count is easy to make.
  const words: WordPieceTokenizer = {
    tokenize: (t) => t.split(' ').filter((w) => w.length > 0),
    convertTokensToIds: (ts) => ts.map((x) => x.length),
    encode: (t) => [
      1,
      ...t
        .split(' ')
        .filter(Boolean)
        .map((x) => x.length),
      2,
    ],
    vocabSize: 100,
    hash: 'words',
    special: { pad: 0, unk: 1, cls: 2, sep: 3, unused0: 4, unused1: 5, unused2: 6 },
  };
  /** The window as it was computed from every piece (before capping). */
  function reference(mention: string, left: string, right: string, max: number): string[] {
    let mp = mention.length > 0 ? words.tokenize(mention) : [];
    const wm = (p: string[]) => (mention.length > 0 ? ['[unused0]', ...p, '[unused1]'] : []);
    const L = words.tokenize(left);
    const R = words.tokenize(right);
    const win = (m: string[]): string[] => {
      let lq = Math.floor((max - m.length) / 2) - 1;
      let rq = max - m.length - lq - 2;
      if (L.length <= lq) {
        if (R.length > rq) rq += lq - L.length;
      } else if (R.length <= rq) lq += rq - R.length;
      return ['[CLS]', ...L.slice(-lq), ...m, ...R.slice(0, rq), '[SEP]'];
    };
    let tokens = win(wm(mp));
    if (tokens.length > max) {
      mp = mp.slice(0, Math.max(0, max - 2 - (mention.length > 0 ? 2 : 0)));
      const m = wm(mp).slice(0, Math.max(0, max - 2));
      tokens = win(m);
      if (tokens.length > max) tokens = ['[CLS]', ...m, ...R.slice(0, Math.max(0, max - 2 - m.length)), '[SEP]'];
    }
    return tokens;
  }
  const ws = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');
  it('for every mix of mention, left and right lengths around the quotas', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 2, max: 20 }),
        (m, l, r, max) => {
          const [mention, left, right] = [ws(m, 'm'), ws(l, 'l'), ws(r, 'r')];
          expect(contextRepresentation(words, mention, left, right, max).tokens).toEqual(reference(mention, left, right, max));
          const all = [...words.tokenize(ws(m, 't')), '[unused2]', ...words.tokenize(right)].slice(0, max - 2);
          expect(candidateRepresentation(words, right, max, ws(m, 't')).tokens).toEqual(['[CLS]', ...all, '[SEP]']);
        },
      ),
      { seed: 1818, numRuns: 3000 },
    );
  });
});
