/**
 * `[CLS] text [SEP]` cut to `maxLength` ids with [SEP] kept last (BLINK's truncation), and the
 * first or last n pieces of a text, without tokenising a long text in full: a prefix (suffix) of
 * the text is tokenised, cut where tokenisation cannot change across the cut, and grown until it
 * yields enough pieces. The result equals cutting the full tokenisation:
 *  - a cut before ASCII whitespace ends a word for the normaliser, the pre-tokeniser and WordPiece
 *    alike (special tokens hold no whitespace);
 *  - a cut before ASCII punctuation (a pre-token of its own) is used too when the special tokens
 *    are known and none of them, and no `[...]` marker word, straddles it.
 * A text with no such cut after the prefix is tokenised in full.
 */
import type { WordPieceTokenizer } from './types.js';

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isAsciiPunct = (c: number): boolean => (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
/** `[` + up to 40 characters + `]`: the longest marker word BertTextFixer rewrites. */
const MARKER_REACH = 42;

function punctCutOk(text: string, c: number, specials: readonly string[]): boolean {
  const ch = text.charCodeAt(c);
  if (!isAsciiPunct(ch) || ch === LBRACKET || ch === RBRACKET) return false;
  for (let i = Math.max(0, c - MARKER_REACH); i < c; i++) if (text.charCodeAt(i) === LBRACKET) return false;
  for (const s of specials) {
    for (let start = Math.max(0, c - s.length + 1); start < c; start++) if (text.startsWith(s, start)) return false;
  }
  return true;
}

const cutOk = (text: string, i: number, specials: readonly string[] | null): boolean =>
  isSpace(text.charCodeAt(i)) || (specials !== null && punctCutOk(text, i, specials));

/** The first index >= `from` where the text may be cut (before that character), or -1. */
function findCut(text: string, from: number, specials: readonly string[] | null): number {
  for (let i = from; i < text.length; i++) if (cutOk(text, i, specials)) return i;
  return -1;
}

/** The last index <= `from` (> 0) where the text may be cut (before that character), or -1. */
function findCutBack(text: string, from: number, specials: readonly string[] | null): number {
  for (let i = Math.min(from, text.length - 1); i > 0; i--) if (cutOk(text, i, specials)) return i;
  return -1;
}

/** Specials usable for cuts: null when unknown or when one holds whitespace (then only full tokenisation is safe). */
function usable(specials: readonly string[] | null): readonly string[] | null | false {
  if (specials === null) return null;
  return specials.some((s) => /\s/.test(s)) ? false : specials;
}

/**
 * The first `n` pieces of `tok.tokenize(text)` (all of them when fewer), tokenising a prefix.
 * `specials` as for {@link encodeTruncated}.
 */
export function tokenizeHead(
  tok: WordPieceTokenizer,
  text: string,
  n: number,
  specials: readonly string[] | null = null,
  minChars?: number,
): string[] {
  const sp = usable(specials);
  if (sp !== false) {
    let p = minChars ?? Math.max(4096, n * 8);
    while (p < text.length) {
      const c = findCut(text, p, sp);
      if (c < 0) break;
      const pieces = tok.tokenize(text.slice(0, c));
      if (pieces.length >= n) return pieces.slice(0, n);
      p = c + Math.max(p * 3, 1);
    }
  }
  return tok.tokenize(text).slice(0, n);
}

/** The last `n` pieces of `tok.tokenize(text)` (all of them when fewer), tokenising a suffix. */
export function tokenizeTail(
  tok: WordPieceTokenizer,
  text: string,
  n: number,
  specials: readonly string[] | null = null,
  minChars?: number,
): string[] {
  const sp = usable(specials);
  const tail = (xs: string[]): string[] => (n <= 0 ? [] : xs.slice(-n));
  if (sp !== false) {
    let p = minChars ?? Math.max(4096, n * 8);
    while (p < text.length) {
      const c = findCutBack(text, text.length - p, sp);
      if (c < 0) break;
      const pieces = tok.tokenize(text.slice(c));
      if (pieces.length >= n) return tail(pieces);
      p = text.length - c + Math.max(p * 3, 1);
    }
  }
  return tail(tok.tokenize(text));
}

function cutIds(ids: number[], maxLength: number, sep: number): number[] {
  if (ids.length > maxLength) ids.splice(maxLength - 1, ids.length - maxLength + 1, sep);
  return ids;
}

/**
 * `tok.encode(text)` truncated to `maxLength` ids (>= 2) with [SEP] last. `specials`: every added
 * token string of the tokenizer when known (enables punctuation cuts), null when not.
 * `minPrefix`: characters tokenised at first (default max(4096, 8 per id); tests set it small).
 */
export function encodeTruncated(
  tok: WordPieceTokenizer,
  text: string,
  maxLength: number,
  specials: readonly string[] | null = null,
  minPrefix?: number,
): number[] {
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new RangeError(`maxLength must be an integer >= 2, got ${maxLength}`);
  const need = maxLength - 2;
  const safeSpecials = specials?.some((s) => /\s/.test(s)) ? null : specials;
  if (specials !== null && safeSpecials === null) return cutIds(tok.encode(text), maxLength, tok.special.sep);
  let p = minPrefix ?? Math.max(4096, need * 8);
  while (p < text.length) {
    const c = findCut(text, p, safeSpecials);
    if (c < 0) break;
    const ids = tok.encode(text.slice(0, c));
    if (ids.length - 2 >= need) return cutIds(ids, maxLength, tok.special.sep);
    p = c + Math.max(p * 3, 1);
  }
  return cutIds(tok.encode(text), maxLength, tok.special.sep);
}
