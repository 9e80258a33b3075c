import { Tokenizer } from '@huggingface/tokenizers';
import type { WordPieceTokenizer } from './types.js';
import type { BertNormalizerJson, TokenizerJson } from './bert-json.js';
import { BLINK_MARKERS, addedToken } from './bert-json.js';
import { BertTextFixer } from './bert-fixes.js';
import { tokenizerHash } from './hash.js';
import { encodeTruncated } from './truncate.js';
import { DataError } from '../data/errors.js';
import { BiofegError } from '../errors.js';

/** Resolved BERT normalisation (HF semantics: strip_accents null means "same as lowercase"). */
export interface BertSettings {
  lowercase: boolean;
  stripAccents: boolean;
  tokenizeChineseChars: boolean;
  cleanText: boolean;
}

/** Words cached by the WordPiece memo before it is emptied (bounds memory on huge corpora). */
const WORD_CACHE_LIMIT = 200_000;

/**
 * WordPiece is a pure function of one pre-token, and the library's implementation (substring
 * slice + join per attempt) is the slowest stage; biomedical text repeats words heavily, so the
 * model's `encode(words)` is wrapped with a per-word memo. Same pieces, ~2x fewer ms.
 */
function memoizeWordPiece(tok: Tokenizer): void {
  const model = tok.model as unknown as { encode(words: string[]): string[] } | null;
  if (model === null) return;
  const encodeWords = model.encode.bind(model);
  const cache = new Map<string, string[]>();
  model.encode = (words: string[]): string[] => {
    const out: string[] = [];
    for (const w of words) {
      let pieces = cache.get(w);
      if (pieces === undefined) {
        pieces = encodeWords([w]);
        if (cache.size >= WORD_CACHE_LIMIT) cache.clear();
        cache.set(w, pieces);
      }
      for (const p of pieces) out.push(p);
    }
    return out;
  };
}

function isBertNormalizer(n: TokenizerJson['normalizer']): n is BertNormalizerJson {
  return n !== null && n.type === 'BertNormalizer';
}

function wordPieceVocab(json: TokenizerJson, where: string): Record<string, number> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('expected a JSON object');
  if (typeof json.model !== 'object' || json.model === null) throw new Error('expected a "model" object');
  const m = json.model as { type?: string; vocab?: unknown };
  if (m.type !== undefined && m.type !== 'WordPiece') throw new Error(`${where}: model.type is ${String(m.type)}, expected WordPiece`);
  if (m.vocab === null || typeof m.vocab !== 'object' || Array.isArray(m.vocab)) {
    throw new Error(`${where}: expected model.vocab to be an object of token -> id`);
  }
  return m.vocab as Record<string, number>;
}

/**
 * A BERT WordPiece tokenizer backed by @huggingface/tokenizers. The tokenizer.json object is
 * taken as given except that BLINK's markers ([unused0..2], when in the vocabulary) are added as
 * special tokens, as BLINK does with `add_special_tokens`, so they are never split.
 */
export class HfWordPieceTokenizer implements WordPieceTokenizer {
  readonly vocabSize: number;
  readonly hash: string;
  readonly special: WordPieceTokenizer['special'];
  /** False when the vocabulary lacks [unused0..2]; `special.unusedN` is then the [UNK] id. */
  readonly markersInVocab: boolean;
  /** Normalisation in effect, when the normalizer is a BertNormalizer. */
  readonly settings: BertSettings | null;
  private readonly tok: Tokenizer;
  private readonly ids: Map<string, number>;
  private readonly fixer: BertTextFixer | null;
  /** The added (special) token strings, matched verbatim in text. */
  readonly specialTokens: readonly string[];

  /** Any problem with `json` is a DataError naming `where` (the file it came from). */
  constructor(json: TokenizerJson, where = '<tokenizer.json>') {
    try {
      const { tok, ids, special, markersInVocab, settings, fixer, hash, specials } = HfWordPieceTokenizer.build(json, where);
      this.tok = tok;
      this.ids = ids;
      this.vocabSize = ids.size;
      this.special = special;
      this.markersInVocab = markersInVocab;
      this.settings = settings;
      this.fixer = fixer;
      this.hash = hash;
      this.specialTokens = specials;
    } catch (e) {
      if (e instanceof BiofegError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new DataError(
        where,
        undefined,
        `not a usable WordPiece tokenizer: ${msg.startsWith(`${where}: `) ? msg.slice(where.length + 2) : msg}`,
      );
    }
  }

  private static build(json: TokenizerJson, where: string) {
    const vocab = wordPieceVocab(json, where);
    const added = [...(json.added_tokens ?? [])];
    for (const m of BLINK_MARKERS) {
      const id = vocab[m];
      if (id !== undefined && !added.some((a) => a.content === m)) added.push(addedToken(m, id));
    }
    const patched: TokenizerJson = { ...json, added_tokens: added };
    const tok = new Tokenizer(patched, {});
    memoizeWordPiece(tok);
    const ids = tok.get_vocab(true);

    const idOf = (t: string): number => {
      const id = ids.get(t);
      if (id === undefined) throw new Error(`${where}: vocabulary has no ${t} token`);
      return id;
    };
    const unk = idOf('[UNK]');
    // A vocabulary without [unusedN] (PubMedBERT's, hence SapBERT's) gives the markers the [UNK]
    // id, exactly as BLINK's `convert_tokens_to_ids([ENT_START_TAG])` does with such a vocabulary.
    const markersInVocab = BLINK_MARKERS.every((m) => ids.has(m));
    const special: WordPieceTokenizer['special'] = {
      pad: idOf('[PAD]'),
      unk,
      cls: idOf('[CLS]'),
      sep: idOf('[SEP]'),
      unused0: ids.get('[unused0]') ?? unk,
      unused1: ids.get('[unused1]') ?? unk,
      unused2: ids.get('[unused2]') ?? unk,
    };

    const specials = added.filter((a) => a.special).map((a) => a.content);
    const n = json.normalizer ?? null;
    let settings: BertSettings | null;
    let fixer: BertTextFixer | null;
    if (isBertNormalizer(n)) {
      settings = {
        lowercase: n.lowercase,
        stripAccents: n.strip_accents ?? n.lowercase,
        tokenizeChineseChars: n.handle_chinese_chars,
        cleanText: n.clean_text,
      };
      fixer = new BertTextFixer({ ...settings, specials });
    } else {
      settings = null;
      fixer = null;
    }

    const model = json.model as { unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
    const entries = [...ids.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    const hash = tokenizerHash({
      vocab: entries,
      normalizer: settings ?? n,
      preTokenizer: json.pre_tokenizer,
      model: {
        unk: model.unk_token ?? '[UNK]',
        prefix: model.continuing_subword_prefix ?? '##',
        maxInputCharsPerWord: model.max_input_chars_per_word ?? 100,
      },
      specials,
    });
    return { tok, ids, special, markersInVocab, settings, fixer, hash, specials };
  }

  private prepare(text: string): string {
    return this.fixer === null ? text : this.fixer.fix(text);
  }

  tokenize(text: string): string[] {
    return this.tok.tokenize(this.prepare(text), { add_special_tokens: false });
  }

  convertTokensToIds(tokens: readonly string[]): number[] {
    const unk = this.special.unk;
    return tokens.map((t) => this.ids.get(t) ?? unk);
  }

  encode(text: string): number[] {
    const ids = this.convertTokensToIds(this.tokenize(text));
    return [this.special.cls, ...ids, this.special.sep];
  }

  /** encode(text) cut to `maxLength` ids, [SEP] last, tokenising only a prefix of a long text. */
  encodeTruncated(text: string, maxLength: number): number[] {
    return encodeTruncated(this, text, maxLength, this.specialTokens);
  }

  /** token -> id of the whole vocabulary, added tokens included (null prototype). */
  vocabObject(): Record<string, number> {
    const obj = Object.create(null) as Record<string, number>;
    for (const [t, i] of this.ids) obj[t] = i;
    return obj;
  }

  /** Id of one token, undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Token of one id, undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }
}
