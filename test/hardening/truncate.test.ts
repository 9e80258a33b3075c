// Issue 16, class 6: a long text is not tokenised in full before it is cut to a known length.
// Property: cutting at the places truncate.ts cuts never changes the ids (checked against full
// tokenisation on random texts full of the hard cases: specials, marker words, punctuation,
// accents, CJK, control characters), and a huge line costs only its prefix.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HfWordPieceTokenizer, buildBertTokenizerJson } from '../../src/tokenize/index.js';
import { encodeTruncated } from '../../src/tokenize/truncate.js';

const cases = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tokenizer', 'cases.json'), 'utf8')) as { vocab_subset: Record<string, number> };
const vocab = Object.assign(Object.create(null) as Record<string, number>, cases.vocab_subset);
const toks = [true, false].map((lowercase) => new HfWordPieceTokenizer(buildBertTokenizerJson(vocab, { lowercase, stripAccents: null, tokenizeChineseChars: true })));
const words = Object.keys(vocab).filter((w) => !w.startsWith('##')).slice(0, 200);

const cut = (ids: number[], max: number, sep: number): number[] => (ids.length > max ? [...ids.slice(0, max - 1), sep] : ids);

const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...words) },
  { weight: 4, arbitrary: fc.constantFrom(' ', ' ', '  ', '\t', '\n', '\r\n') },
  { weight: 3, arbitrary: fc.constantFrom('.', ',', '-', '(', ')', '[', ']', '#', '/', "'", '"', '!', '?', ':', ';') },
  { weight: 2, arbitrary: fc.constantFrom('[unused0]', '[UNUSED0]', '[unused1]', '[CLS]', '[SEP]', '[MASK]', '[Unused2]', '[x]', '[') },
  { weight: 2, arbitrary: fc.constantFrom('é', 'É', 'ü', 'e\u0301', '\u0301', 'Sjögren', 'İ', 'ß', 'ﬁ', '中', '文', '𠀀', '\u0000', '\u200b', '\ufffd', '\u00a0', '\u2028') },
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
