/**
 * Text pre-processing that makes @huggingface/tokenizers 0.2's BertNormalizer match HF's Python
 * BertTokenizer (BasicTokenizer) exactly. Each step fixes one measured gap; all run only on
 * non-ASCII text (or text with a '['), so plain ASCII pays almost nothing.
 *
 * 1. Control characters: Python drops every char of Unicode category C* except \t \n \r, which
 *    includes Cn (unassigned code points); the JS normalizer tests Cc|Cf|Co|Cs only.
 * 2. Chinese characters: the JS normalizer walks UTF-16 code units, so CJK ideographs outside the
 *    BMP (extensions B-F, compatibility supplement) are never padded with spaces; Python pads them.
 * 3. NFC: Python's BasicTokenizer NFC-normalises the cleaned text before splitting (transformers
 *    >= 4.3x); the JS normalizer does not. It matters when accents are kept (cased models).
 * 4. Lower-cased marker words: with do_lower_case, Python lower-cases a whitespace-delimited word
 *    and THEN checks it against never_split (the special tokens), so "[UNUSED0]" alone becomes the
 *    single token [unused0]. Exact specials are already split out by the library's added-token
 *    splitter; this step rewrites the case/accent variants that Python would also keep whole.
 */

// Category C except tab, LF, CR; U+FFFD too (Python's _clean_text drops it explicitly).
const CONTROL = /(?![\t\n\r])[\p{C}\uFFFD]/gu;
const ASTRAL_CJK = /[\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the class is every byte outside ASCII, control characters included.
const NON_ASCII = /[^\x00-\x7f]/;
const BRACKET_WORD = /\[[^\s[\]]{1,40}\]/g;
const MN = /\p{Mn}/gu;

export interface BertFixOptions {
  lowercase: boolean;
  stripAccents: boolean;
  tokenizeChineseChars: boolean;
  /** All added (special) token strings, matched verbatim by the library. */
  specials: readonly string[];
}

export class BertTextFixer {
  private readonly lowerSpecials: Set<string>;
  private readonly specials: readonly string[];

  constructor(private readonly opts: BertFixOptions) {
    this.specials = opts.specials;
    this.lowerSpecials = new Set(opts.lowercase ? opts.specials.filter((s) => s === s.toLowerCase()) : []);
  }

  fix(text: string): string {
    let t = text;
    if (NON_ASCII.test(t)) {
      t = t.replace(CONTROL, '');
      if (this.opts.tokenizeChineseChars) t = t.replace(ASTRAL_CJK, ' $& ');
      t = t.normalize('NFC');
    }
    if (this.lowerSpecials.size > 0 && t.includes('[')) t = this.fixMarkerWords(t);
    return t;
  }

  private normalizeWord(w: string): string {
    let s = w.toLowerCase();
    if (this.opts.stripAccents) s = s.normalize('NFD').replace(MN, '');
    return s;
  }

  /** Word boundary as Python sees it: text edge, whitespace, or an exact special token. */
  private boundaryBefore(t: string, i: number): boolean {
    if (i === 0 || /\s/.test(t[i - 1] ?? '')) return true;
    return this.specials.some((s) => i >= s.length && t.endsWith(s, i));
  }

  private boundaryAfter(t: string, j: number): boolean {
    if (j >= t.length || /\s/.test(t[j] ?? '')) return true;
    return this.specials.some((s) => t.startsWith(s, j));
  }

  private fixMarkerWords(t: string): string {
    return t.replace(BRACKET_WORD, (m: string, offset: number) => {
      if (this.lowerSpecials.has(m)) return m;
      const n = this.normalizeWord(m);
      if (!this.lowerSpecials.has(n)) return m;
      if (!this.boundaryBefore(t, offset) || !this.boundaryAfter(t, offset + m.length)) return m;
      return n;
    });
  }
}
