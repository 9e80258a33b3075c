export type { WordPieceTokenizer } from './types.js';
export { HfWordPieceTokenizer } from './hf-tokenizer.js';
export type { BertSettings } from './hf-tokenizer.js';
export { loadTokenizer, fromVocab } from './load.js';
export type { NormalizationOptions } from './load.js';
export { buildBertTokenizerJson, BERT_SPECIALS, BLINK_MARKERS } from './bert-json.js';
export type { TokenizerJson } from './bert-json.js';
export { readVocabFile, parseVocab } from './vocab.js';
