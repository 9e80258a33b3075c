/** Data: arboEL/PubTator ingestion, prepared-mention streams, BLINK inputs and token caches. */
export { DataError, WarningCounter } from './errors.js';
export {
  readJsonl,
  readJsonlWithLines,
  readLines,
  readLinesSync,
  LineSplitter,
  DEFAULT_MAX_LINE_BYTES,
  type Line,
  type LineLimits,
} from './lines.js';
export { removeStaleTemps, sweepStaleTemps } from './atomic.js';
export { SPLITS, canonicalSplit, arboelPaths, type Split, type SplitName, type DocumentRecord, type MentionRecord } from './arboel.js';
export { prepare, type PrepareOptions, type PrepareReport } from './prepare.js';
export { loadPrepared, preparedPath, type PreparedMention } from './prepared.js';
export {
  contextRepresentation,
  candidateRepresentation,
  ENT_START_TAG,
  ENT_END_TAG,
  ENT_TITLE_TAG,
  type Representation,
} from './blink-inputs.js';
export { TokenCache, readHeader, staleReason, HEADER_BYTES, CACHE_VERSION, type CacheHeader, type CacheKind } from './token-cache.js';
export { buildTokenCache, ensureTokenCache, type TokenCacheOptions } from './cache-build.js';
export type { TokenizerFactory } from './tokenizer-factory.js';
export { pyDumps, pySplit, pyStrip } from './pyjson.js';
export {
  generateSynthetic,
  syntheticCounts,
  MEDMENTIONS_SIZE,
  type SyntheticOptions,
  type SyntheticManifest,
  type SyntheticCounts,
  type SplitCounts,
} from './synthetic.js';
