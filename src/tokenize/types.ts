/** The tokenizer face every data and model module uses (no addon import). */
export interface WordPieceTokenizer {
  /** WordPiece pieces of `text` without [CLS]/[SEP] (BLINK's `tokenizer.tokenize`). */
  tokenize(text: string): string[];
  /** Ids of pieces; an unknown piece maps to [UNK]. */
  convertTokensToIds(tokens: readonly string[]): number[];
  /** `[CLS] text [SEP]` ids, no padding (HF `tokenizer(text)['input_ids']`). */
  encode(text: string): number[];
  /**
   * `encode(text)` cut to `maxLength` ids with [SEP] kept last, without tokenising all of a long
   * text (optional: callers fall back to `encode` and cut).
   */
  encodeTruncated?(text: string, maxLength: number): number[];
  /** The added (special) token strings, when known: lets long texts be cut at punctuation too. */
  readonly specialTokens?: readonly string[];
  /** Vocabulary size. */
  readonly vocabSize: number;
  /** Stable hash of vocabulary + normalisation settings; token caches key on it. */
  readonly hash: string;
  /** Ids of the special tokens BLINK needs. */
  readonly special: { pad: number; unk: number; cls: number; sep: number; unused0: number; unused1: number; unused2: number };
}
