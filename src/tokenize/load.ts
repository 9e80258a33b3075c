import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../data/errors.js';
import { readTokenizerText } from './read-text.js';
import type { TokenizerJson } from './bert-json.js';
import { buildBertTokenizerJson } from './bert-json.js';
import { HfWordPieceTokenizer } from './hf-tokenizer.js';
import { readVocabFile, vocabToObject } from './vocab.js';

export interface NormalizationOptions {
  /** HF do_lower_case. */
  lowercase?: boolean;
  /** HF strip_accents; unset means "strip iff lowercasing". */
  stripAccents?: boolean;
  /** HF tokenize_chinese_chars (default true). */
  tokenizeChineseChars?: boolean;
}

function readJsonObject(path: string): Record<string, unknown> {
  const text = readTokenizerText(path, 'a tokenizer file');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataError(path, 1, `expected a JSON object (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DataError(path, 1, 'expected a JSON object');
  return value as Record<string, unknown>;
}

function optBool(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new DataError(path, 1, `expected "${key}" to be true, false or null`);
  return v;
}

/** Settings from tokenizer_config.json (HF names), overridden by explicit options. */
function configSettings(dir: string, opts: NormalizationOptions): NormalizationOptions {
  const path = join(dir, 'tokenizer_config.json');
  const out: NormalizationOptions = {};
  if (existsSync(path)) {
    const cfg = readJsonObject(path);
    out.lowercase = optBool(cfg, 'do_lower_case', path);
    out.stripAccents = optBool(cfg, 'strip_accents', path);
    out.tokenizeChineseChars = optBool(cfg, 'tokenize_chinese_chars', path);
  }
  if (opts.lowercase !== undefined) out.lowercase = opts.lowercase;
  if (opts.stripAccents !== undefined) out.stripAccents = opts.stripAccents;
  if (opts.tokenizeChineseChars !== undefined) out.tokenizeChineseChars = opts.tokenizeChineseChars;
  return out;
}

/** BERT tokenizer from a vocab.txt alone (HF BertTokenizer defaults: lower-case, strip accents). */
export function fromVocab(vocabPath: string, opts: NormalizationOptions = {}): HfWordPieceTokenizer {
  const vocab = vocabToObject(readVocabFile(vocabPath));
  let json: TokenizerJson;
  try {
    json = buildBertTokenizerJson(vocab, {
      lowercase: opts.lowercase ?? true,
      stripAccents: opts.stripAccents ?? null,
      tokenizeChineseChars: opts.tokenizeChineseChars ?? true,
    });
  } catch (e) {
    throw new DataError(vocabPath, undefined, (e as Error).message);
  }
  return new HfWordPieceTokenizer(json, vocabPath);
}

/**
 * Tokenizer of an HF model folder: tokenizer.json when present, else vocab.txt. As HF's
 * BertTokenizerFast does, do_lower_case / strip_accents / tokenize_chinese_chars from
 * tokenizer_config.json override the BertNormalizer of tokenizer.json; `opts` override both.
 */
export function loadTokenizer(dir: string, opts: NormalizationOptions = {}): HfWordPieceTokenizer {
  const settings = configSettings(dir, opts);
  const jsonPath = join(dir, 'tokenizer.json');
  if (existsSync(jsonPath)) {
    const json = readJsonObject(jsonPath) as unknown as TokenizerJson;
    const n = json.normalizer;
    if (n !== null && n !== undefined && typeof n !== 'object')
      throw new DataError(jsonPath, undefined, 'expected "normalizer" to be an object or null');
    if (n !== null && n !== undefined && n.type === 'BertNormalizer') {
      const patched = { ...n };
      if (settings.lowercase !== undefined) patched['lowercase'] = settings.lowercase;
      if (settings.stripAccents !== undefined) patched['strip_accents'] = settings.stripAccents;
      if (settings.tokenizeChineseChars !== undefined) patched['handle_chinese_chars'] = settings.tokenizeChineseChars;
      json.normalizer = patched;
    } else if (settings.lowercase !== undefined || settings.stripAccents !== undefined) {
      throw new DataError(
        jsonPath,
        undefined,
        `lower-casing/accent options need a BertNormalizer, found ${n === null || n === undefined ? 'none' : String(n.type)}`,
      );
    }
    if (!Array.isArray(json.added_tokens)) json.added_tokens = [];
    return new HfWordPieceTokenizer(json, jsonPath);
  }
  const vocabPath = join(dir, 'vocab.txt');
  if (!existsSync(vocabPath)) throw new DataError(dir, undefined, 'expected a tokenizer.json or vocab.txt in the model folder');
  return fromVocab(vocabPath, settings);
}
