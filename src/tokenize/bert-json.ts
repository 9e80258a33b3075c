/**
 * The tokenizer.json object of a BERT WordPiece tokenizer (the layout HF `tokenizers` writes for
 * bert-base-uncased), built in memory from a vocabulary so that vocab.txt-only folders go through
 * the same @huggingface/tokenizers code path as folders with a tokenizer.json.
 */

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface BertNormalizerJson {
  type: 'BertNormalizer';
  clean_text: boolean;
  handle_chinese_chars: boolean;
  /** null: follow `lowercase` (HF's default). */
  strip_accents: boolean | null;
  lowercase: boolean;
}

export interface WordPieceModelJson {
  type: 'WordPiece';
  unk_token: string;
  continuing_subword_prefix: string;
  max_input_chars_per_word: number;
  vocab: Record<string, number>;
}

type TemplatePiece = { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: 'A' | 'B'; type_id: number } };

export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: BertNormalizerJson | { type: string; [k: string]: unknown } | null;
  pre_tokenizer: { type: string; [k: string]: unknown } | null;
  post_processor: {
    type: string;
    single?: TemplatePiece[];
    pair?: TemplatePiece[];
    special_tokens?: Record<string, { id: string; ids: number[]; tokens: string[] }>;
    [k: string]: unknown;
  } | null;
  decoder: { type: string; [k: string]: unknown } | null;
  model: WordPieceModelJson | { type?: string; [k: string]: unknown };
}

/** The five BERT special tokens, HF order in added_tokens (by id in the vocab). */
export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
/** BLINK's mention start / end and title markers; BLINK adds them as special tokens. */
export const BLINK_MARKERS = ['[unused0]', '[unused1]', '[unused2]'] as const;

export interface BertJsonOptions {
  lowercase: boolean;
  /** null: strip accents iff lowercasing (HF default). */
  stripAccents: boolean | null;
  tokenizeChineseChars: boolean;
  maxInputCharsPerWord?: number;
}

export function addedToken(content: string, id: number): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** tokenizer.json for `vocab` (token -> id). Specials absent from the vocab are an error. */
export function buildBertTokenizerJson(vocab: Record<string, number>, opts: BertJsonOptions): TokenizerJson {
  const idOf = (t: string): number => {
    const id = vocab[t];
    if (id === undefined) throw new Error(`vocabulary has no ${t} token, which a BERT tokenizer needs`);
    return id;
  };
  const cls = idOf('[CLS]');
  const sep = idOf('[SEP]');
  idOf('[UNK]');
  const added: AddedTokenJson[] = [];
  for (const t of [...BERT_SPECIALS, ...BLINK_MARKERS]) {
    const id = vocab[t];
    if (id !== undefined) added.push(addedToken(t, id));
  }
  added.sort((a, b) => a.id - b.id);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: opts.tokenizeChineseChars,
      strip_accents: opts.stripAccents,
      lowercase: opts.lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: opts.maxInputCharsPerWord ?? 100,
      vocab,
    },
  };
}
