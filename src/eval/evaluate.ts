// The original's eval_biencoder over several modes: token caches (built when missing or stale),
// the entity pool (encoded once for all modes; the original re-encodes it per mode with the same
// result), retrieval, recall with the original's Stats, a JSON report written atomically, and with
// save_topk_result one candidate file per mode. On the ranks of a multi-rank run the pool is
// encoded in shards and gathered; every rank then retrieves and reports, rank 0 alone writes.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Communicator } from '../comm/communicator.js';
import { writeFileAtomic } from '../data/atomic.js';
import { ensureTokenCache } from '../data/cache-build.js';
import { preparedPath } from '../data/prepared.js';
import type { TokenCache } from '../data/token-cache.js';
import type { TokenizerFactory } from '../data/tokenizer-factory.js';
import type { BiEncoder } from '../models/biencoder.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { applyMissingGoldRule, candidateFilePath, defaultMissingGoldRule, writeCandidateFile, type MissingGoldRule } from './candidates.js';
import { DEFAULT_EMBEDDING_CACHE_MB, pruneEmbeddingCache, touchEmbeddingCache } from './embedding-cache.js';
import { encodeEntityPool, type EntityPool, type PoolDType } from './entity-pool.js';
import { formatOriginalLine, formatRecallTable, recallReport, type RecallReport } from './recall.js';
import { retrieve, type RetrievalResult } from './retrieve.js';
import { cacheDirFor } from '../data/cache-dir.js';
import { rankZeroFirst } from '../comm/rank-zero-first.js';

export const EVAL_MODES = ['train', 'valid', 'val', 'dev', 'test', 'test_seen', 'test_unseen'] as const;

/** Progress hooks: one per phase, created when the phase starts (the CLI maps them to bars). */
export interface PhaseProgress {
  tick(done: number): void;
  stop(): void;
}
export type ProgressFactory = (label: string, total: number) => PhaseProgress;

export interface EvaluateOptions {
  model: BiEncoder;
  tokenizer: WordPieceTokenizer;
  /** Lets the token-cache build tokenise in worker threads. */
  tokenizerFactory?: TokenizerFactory;
  /** The prepared folder (train.jsonl, val.jsonl, test.jsonl, test_seen.jsonl, test_unseen.jsonl). */
  dataPath: string;
  /** all_documents.json (label_id = line index). */
  entityDictPath: string;
  outputPath: string;
  /** Token caches; default `<dataPath>/cache` when writable, else `<outputPath>/cache`. */
  cacheDir?: string;
  modes: readonly string[];
  topK: number;
  encodeBatchSize: number;
  evalBatchSize: number;
  maxContextLength: number;
  maxCandLength: number;
  saveTopk?: boolean;
  /** Rule for mentions whose gold is not retrieved; default candidates.ts defaultMissingGoldRule. */
  missingGold?: (mode: string) => MissingGoldRule;
  poolDtype?: PoolDType;
  /** Reuse / write `<outputPath>/entity_embeddings.<hash>.f32` (default true). */
  poolCache?: boolean;
  /** Cap of those files in `outputPath`: older ones evicted first, the one in use kept (default 4096 MiB). */
  poolCacheMaxBytes?: number;
  /** Tokeniser worker threads for cache builds (default: cache-build's choice). */
  workers?: number;
  progress?: ProgressFactory;
  /** One line per event (the original's log lines); default nothing. */
  log?: (line: string) => void;
  /** Free-form provenance put in the report and candidate files. */
  modelInfo?: Record<string, string>;
  /**
   * The ranks of a multi-rank run: rank 0 builds the token caches, each rank encodes its share of
   * the entity pool (entity-pool.ts), every rank retrieves and returns the same report; rank 0
   * alone writes files and log lines. Omitted: one process.
   */
  comm?: Communicator;
}

export interface ModeResult {
  mode: string;
  source: string;
  recall: RecallReport;
  candidateFile?: string;
  dropped?: number;
  inserted?: number;
  seconds: number;
}

export interface EvalReport {
  format: 'biofeg-eval-report';
  version: 1;
  topK: number;
  entities: number;
  embedDim: number;
  entityPool: { hash: string; fromCache: boolean; cachePath?: string; seconds: number };
  settings: {
    encodeBatchSize: number;
    evalBatchSize: number;
    maxContextLength: number;
    maxCandLength: number;
    device: string;
    poolDtype: PoolDType;
  };
  model?: Record<string, string>;
  modes: ModeResult[];
  table: string;
}

const noProgress: ProgressFactory = () => ({ tick: () => undefined, stop: () => undefined });

export function checkMode(m: string): void {
  if (!(EVAL_MODES as readonly string[]).includes(m))
    throw new Error(`--mode: unknown mode "${m}" (expected train, valid, test, test_seen or test_unseen)`);
}

/** Report path: `<outputPath>/eval_report.json`. */
export function evalReportPath(outputPath: string): string {
  return join(outputPath, 'eval_report.json');
}

async function withProgress<T>(
  p: ProgressFactory,
  label: string,
  total: number,
  run: (tick: (d: number) => void) => Promise<T>,
): Promise<T> {
  const bar = p(label, total);
  try {
    return await run((d) => bar.tick(d));
  } finally {
    bar.stop();
  }
}

/** Run every mode; returns the report (also written to `<outputPath>/eval_report.json`). */
export async function evaluateModes(o: EvaluateOptions): Promise<EvalReport> {
  o.modes.forEach(checkMode);
  if (o.modes.length === 0) throw new Error('--mode: no mode given');
  const sources = o.modes.map((m) => preparedPath(o.dataPath, m));
  sources.forEach((s, i) => {
    if (!existsSync(s)) throw new Error(`${s}: not found (mode ${o.modes[i]}; run \`biofeg prepare\` first)`);
  });
  if (!existsSync(o.entityDictPath)) throw new Error(`${o.entityDictPath}: entity dictionary not found`);
  const progress = o.progress ?? noProgress;
  const lead = o.comm === undefined || o.comm.rank === 0;
  const log = (lead ? o.log : undefined) ?? (() => undefined);
  const cacheDir = o.cacheDir ?? cacheDirFor(o.dataPath, o.outputPath);
  const tokOpts = {
    tokenizer: o.tokenizer,
    ...(o.tokenizerFactory ? { factory: o.tokenizerFactory } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
  };

  const build = async (kind: 'mentions' | 'entities', name: string, source: string, len: number): Promise<TokenCache> =>
    withProgress(progress, `tokenize ${name}`, 0, async (tick) => {
      const r = await ensureTokenCache({
        kind,
        source,
        cachePath: join(cacheDir, `${name}.${len}.tokens`),
        ...tokOpts,
        maxContextLength: o.maxContextLength,
        maxCandLength: o.maxCandLength,
        onProgress: tick,
      });
      if (r.rebuilt) log(`token cache ${r.cache.path}: built (${r.reason})`);
      return r.cache;
    });
  // Rank 0 builds a missing or stale cache; the other ranks then only open it.
  const open = (kind: 'mentions' | 'entities', name: string, source: string, len: number): Promise<TokenCache> =>
    o.comm ? rankZeroFirst(o.comm, () => build(kind, name, source, len)) : build(kind, name, source, len);

  const entities = await open('entities', 'entities', o.entityDictPath, o.maxCandLength);
  let pool: EntityPool | undefined;
  try {
    if (o.topK > entities.rows) throw new Error(`top_k ${o.topK} exceeds the number of entities (${entities.rows})`);
    const t0 = performance.now();
    pool = await withProgress(progress, 'encode entities', entities.rows, (tick) =>
      encodeEntityPool(o.model, entities, {
        batchSize: o.encodeBatchSize,
        ...(o.poolDtype ? { dtype: o.poolDtype } : {}),
        ...(o.poolCache === false ? {} : { cacheDir: o.outputPath }),
        ...(o.comm ? { comm: o.comm } : {}),
        onProgress: tick,
      }),
    );
    const poolSeconds = (performance.now() - t0) / 1000;
    if (pool.cachePath && lead) {
      touchEmbeddingCache(pool.cachePath);
      const maxBytes = o.poolCacheMaxBytes ?? DEFAULT_EMBEDDING_CACHE_MB * 2 ** 20;
      for (const e of pruneEmbeddingCache(o.outputPath, { maxBytes, keep: [pool.cachePath] }).removed)
        log(`entity embeddings cache: removed ${e.path} (${e.bytes} bytes, over the cache's ${maxBytes} bytes)`);
    }
    log(
      `entity pool: ${pool.rows} x ${pool.dim} ${pool.fromCache ? `read from ${pool.cachePath}` : 'encoded'} in ${poolSeconds.toFixed(1)}s`,
    );

    const modes: ModeResult[] = [];
    for (let i = 0; i < o.modes.length; i++) {
      const mode = o.modes[i]!;
      const source = sources[i]!;
      const name = basename(source, '.jsonl');
      const t1 = performance.now();
      const mentions = await open('mentions', name, source, o.maxContextLength);
      let res: RetrievalResult;
      try {
        res = await withProgress(progress, `retrieve ${mode}`, mentions.rows, (tick) =>
          retrieve(o.model, mentions, pool!, { topK: o.topK, batchSize: o.evalBatchSize, onProgress: tick }),
        );
      } finally {
        mentions.close();
      }
      const recall = recallReport(mode, o.topK, res.positions);
      log(`${mode}: ${formatOriginalLine(recall)}`);
      const m: ModeResult = { mode, source, recall, seconds: 0 };
      if (o.saveTopk) {
        const rule = (o.missingGold ?? defaultMissingGoldRule)(mode);
        const applied = applyMissingGoldRule(res.indices, o.topK, res.gold, rule);
        const path = candidateFilePath(o.outputPath, o.topK, mode);
        if (lead)
          writeCandidateFile(path, mode, o.topK, rule, applied, {
            source: {
              ...(o.modelInfo ?? {}),
              entityPoolHash: pool.hash,
              mentions: source,
              mentionCache: mentions.path,
              entityCache: entities.path,
            },
          });
        Object.assign(m, { candidateFile: path, dropped: applied.dropped, inserted: applied.inserted });
        log(
          `${mode}: ${applied.rows.gold.length} of ${res.mentions} mentions written to ${path} (missing gold: ${rule}, ${applied.dropped} dropped, ${applied.inserted} inserted)`,
        );
      }
      m.seconds = (performance.now() - t1) / 1000;
      modes.push(m);
    }
    const report: EvalReport = {
      format: 'biofeg-eval-report',
      version: 1,
      topK: o.topK,
      entities: pool.rows,
      embedDim: pool.dim,
      entityPool: {
        hash: pool.hash,
        fromCache: pool.fromCache,
        ...(pool.cachePath ? { cachePath: pool.cachePath } : {}),
        seconds: poolSeconds,
      },
      settings: {
        encodeBatchSize: o.encodeBatchSize,
        evalBatchSize: o.evalBatchSize,
        maxContextLength: o.maxContextLength,
        maxCandLength: o.maxCandLength,
        device: o.model.device,
        poolDtype: pool.dtype,
      },
      ...(o.modelInfo ? { model: o.modelInfo } : {}),
      modes,
      table: formatRecallTable(modes.map((m) => m.recall)),
    };
    if (lead) writeFileAtomic(evalReportPath(o.outputPath), JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    pool?.dispose();
    entities.close();
  }
}
