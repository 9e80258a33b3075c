/**
 * `[CLS] text [SEP]` cut to `maxLength` ids with [SEP] kept last (BLINK's truncation), without
 * tokenising a long text in full: a prefix of the text is tokenised, cut where tokenisation cannot
 * change across the cut, and grown until it yields enough pieces. The result equals truncating
 * `tok.encode(text)`:
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

/** The first index >= `from` where the text may be cut, or -1. */
function findCut(text: string, from: number, specials: readonly string[] | null): number {
  for (let i = from; i < text.length; i++) {
    if (isSpace(text.charCodeAt(i))) return i;
    if (specials !== null && punctCutOk(text, i, specials)) return i;
  }
  return -1;
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
export function encodeTruncated(tok: WordPieceTokenizer, text: string, maxLength: number, specials: readonly string[] | null = null, minPrefix?: number): number[] {
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
