import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { AtomicOutputs } from './atomic.js';
import { rowWidth, tokenizeRows, type RowSettings } from './cache-rows.js';
import { DataError } from './errors.js';
import { isBlank, readLines } from './lines.js';
import { HEADER_BYTES, TokenCache, encodeHeader, sourceStamp, staleReason, type CacheHeader, type CacheKind } from './token-cache.js';
import type { TokenizerFactory } from './tokenizer-factory.js';

export interface TokenCacheOptions {
  kind: CacheKind;
  /** Mentions: a prepared split (.jsonl). Entities: documents/all_documents.json. */
  source: string;
  cachePath: string;
  tokenizer: WordPieceTokenizer;
  /** Lets worker threads rebuild the tokenizer; without it tokenisation stays on this thread. */
  factory?: TokenizerFactory;
  /** Default 128 (BLINK). Used by mention caches only. */
  maxContextLength?: number;
  /** Default 128 (BLINK). Used by entity caches only. */
  maxCandLength?: number;
  /** Worker threads; 0 = tokenise on this thread. Default: min(2, cores) when a factory is given. */
  workers?: number;
  /** Lines per batch sent to a worker. */
  batchLines?: number;
  onProgress?: (rows: number) => void;
}

function settingsOf(o: TokenCacheOptions): RowSettings {
  return {
    kind: o.kind,
    maxContextLength: o.kind === 'mentions' ? (o.maxContextLength ?? 128) : 0,
    maxCandLength: o.kind === 'entities' ? (o.maxCandLength ?? 128) : 0,
  };
}

interface RowsResult {
  data: Int32Array;
  overflows: number;
}

/** A small pool that keeps results in submission order. */
class WorkerPool {
  private workers: Worker[] = [];
  private waiting = new Map<number, { resolve: (r: RowsResult) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failed: Error | undefined;

  static async start(n: number, factory: TokenizerFactory, hash: string, settings: RowSettings, path: string): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(ts ? './tokenize-worker.ts' : './tokenize-worker.js', import.meta.url);
    // Running from TypeScript sources (tests, tsx): the worker registers the tsx loader first.
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = ts ? new Worker(boot, { eval: true }) : new Worker(url);
      pool.workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: { type: string; error?: string }) => {
            if (m.type === 'ready') {
              w.off('message', onMsg);
              w.on('message', (r: { type: string; seq: number; data?: Int32Array; overflows?: number; error?: string }) => pool.onRows(r));
              resolve();
            } else if (m.type === 'fatal') reject(new Error(m.error));
          };
          w.on('message', onMsg);
          w.once('error', (e) => {
            reject(e);
            pool.fail(e);
          });
          w.once('exit', (code) => {
            if (code !== 0) pool.fail(new Error(`tokenizer worker exited with code ${code}`));
          });
        }),
      );
      w.postMessage({ type: 'init', factory, expectedHash: hash, settings, path });
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private onRows(r: { seq: number; data?: Int32Array; overflows?: number; error?: string }): void {
    const w = this.waiting.get(r.seq);
    if (!w) return;
    this.waiting.delete(r.seq);
    if (r.error !== undefined) w.reject(new Error(r.error));
    else w.resolve({ data: r.data!, overflows: r.overflows! });
  }

  private fail(e: Error): void {
    this.failed = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  submit(seq: number, lines: string[], lineNos: number[]): Promise<RowsResult> {
    if (this.failed) return Promise.reject(this.failed);
    const w = this.workers[this.next++ % this.workers.length]!;
    const p = new Promise<RowsResult>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    w.postMessage({ type: 'batch', seq, lines, lineNos });
    return p;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

/** Rebuild the cache from its source: streamed, in order, written to a temp file and renamed. */
export async function buildTokenCache(o: TokenCacheOptions): Promise<CacheHeader> {
  const settings = settingsOf(o);
  const width = rowWidth(settings);
  const nWorkers = o.factory ? (o.workers ?? Math.min(2, cpus().length)) : 0;
  const batchLines = o.batchLines ?? 256;
  const source = sourceStamp(o.source);
  const out = new AtomicOutputs();
  let pool: WorkerPool | undefined;
  // Swallow rejections of results not yet awaited (the first one awaited is what we report).
  const inflight: Promise<RowsResult>[] = [];
  try {
    const w = out.open(o.cachePath);
    const header: CacheHeader = {
      kind: o.kind,
      tokenizerHash: o.tokenizer.hash,
      maxContextLength: settings.maxContextLength,
      maxCandLength: settings.maxCandLength,
      width,
      rows: 0,
      source,
      overflows: 0,
    };
    w.writeBytes(encodeHeader(header)); // placeholder until the counts are known
    if (nWorkers > 0) pool = await WorkerPool.start(nWorkers, o.factory!, o.tokenizer.hash, settings, o.source);
    const maxInflight = Math.max(2, nWorkers * 4);
    let seq = 0;
    const take = (r: RowsResult) => {
      w.writeBytes(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
      header.rows += r.data.length / width;
      header.overflows += r.overflows;
      o.onProgress?.(header.rows);
    };
    const dispatch = async (lines: string[], nums: number[]) => {
      if (!pool) {
        take(tokenizeRows(o.tokenizer, settings, lines, nums, o.source));
        return;
      }
      const p = pool.submit(seq++, lines, nums);
      p.catch(() => undefined);
      inflight.push(p);
      while (inflight.length >= maxInflight) take(await inflight.shift()!);
    };
    let lines: string[] = [];
    let nums: number[] = [];
    for await (const l of readLines(o.source)) {
      if (isBlank(l.text)) continue;
      lines.push(l.text);
      nums.push(l.line);
      if (lines.length >= batchLines) {
        await dispatch(lines, nums);
        lines = [];
        nums = [];
      }
    }
    if (lines.length) await dispatch(lines, nums);
    while (inflight.length) take(await inflight.shift()!);
    if (o.kind === 'entities' && header.rows === 0) throw new DataError(o.source, undefined, 'empty file: expected one entity a line');
    w.writeAt(0, encodeHeader(header));
    out.commit();
    return header;
  } catch (e) {
    out.abort();
    throw e;
  } finally {
    await pool?.close();
  }
}

/**
 * Open the cache for these settings, rebuilding it first when it is missing or was made with
 * another tokenizer, other lengths or an older source (never reused silently: `reason` says why
 * it was rebuilt).
 */
export async function ensureTokenCache(o: TokenCacheOptions): Promise<{ cache: TokenCache; rebuilt: boolean; reason: string | null }> {
  const s = settingsOf(o);
  const reason = staleReason(o.cachePath, {
    kind: o.kind,
    tokenizerHash: o.tokenizer.hash,
    maxContextLength: s.maxContextLength,
    maxCandLength: s.maxCandLength,
    sourcePath: o.source,
  });
  if (reason !== null) await buildTokenCache(o);
  return { cache: new TokenCache(o.cachePath), rebuilt: reason !== null, reason };
}

export { HEADER_BYTES };
