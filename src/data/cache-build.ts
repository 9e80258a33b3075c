import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';

import { tsWorkerBoot } from '../worker-boot.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { AtomicOutputs } from './atomic.js';
import { rowWidth, tokenizeChunk, type RowSettings } from './cache-rows.js';
import { DataError } from './errors.js';
import { openRegular } from './files.js';
import { DEFAULT_MAX_LINE_BYTES } from './lines.js';
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
  /** Source bytes per batch (whole lines; a longer line makes a bigger batch). Default 1 MiB. */
  chunkBytes?: number;
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

/**
 * Read a file as chunks of whole lines (raw bytes, each in its own buffer so it can be
 * transferred to a worker) with the 1-based number of each chunk's first line. A UTF-8 BOM at the
 * start of the file is skipped, as readLines does. Memory: one chunk plus the longest line.
 */
async function* readChunks(path: string, chunkBytes: number): AsyncGenerator<{ bytes: Uint8Array; firstLine: number }> {
  const { fh } = await openRegular(path, (d) => new DataError(path, undefined, d));
  try {
    let carry: Buffer = Buffer.alloc(0);
    let pos = 0;
    let line = 1;
    let first = true;
    for (;;) {
      // allocUnsafeSlow: an ArrayBuffer of its own (not Node's shared pool), safe to transfer.
      const buf = Buffer.allocUnsafeSlow(carry.length + chunkBytes);
      carry.copy(buf, 0);
      let filled = carry.length;
      let eof = false;
      while (filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, pos);
        if (bytesRead === 0) {
          eof = true;
          break;
        }
        filled += bytesRead;
        pos += bytesRead;
      }
      let start = 0;
      if (first) {
        first = false;
        if (filled >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      }
      if (eof) {
        if (filled > start) yield { bytes: buf.subarray(start, filled), firstLine: line };
        return;
      }
      const cut = buf.lastIndexOf(0x0a, filled - 1);
      if (cut < start) {
        // No line end yet: a line longer than a chunk, bounded as readLines bounds it.
        if (filled - start > DEFAULT_MAX_LINE_BYTES + 1) {
          throw new DataError(
            path,
            line,
            `line longer than ${DEFAULT_MAX_LINE_BYTES} bytes (the limit for one line); expected line-separated records`,
          );
        }
        carry = buf.subarray(start, filled);
        continue;
      }
      const bytes = buf.subarray(start, cut + 1);
      carry = Buffer.from(buf.subarray(cut + 1, filled)); // a copy: `buf` goes to a worker
      const firstLine = line;
      for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) line++;
      yield { bytes, firstLine };
    }
  } finally {
    await fh.close();
  }
}

/** A small pool that keeps results in submission order; each batch goes to the least busy worker. */
class WorkerPool {
  private workers: Worker[] = [];
  private busy: number[] = [];
  private waiting = new Map<number, { worker: number; resolve: (r: RowsResult) => void; reject: (e: Error) => void }>();
  private failed: Error | undefined;

  static async start(n: number, factory: TokenizerFactory, hash: string, settings: RowSettings, path: string): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(ts ? './tokenize-worker.ts' : './tokenize-worker.js', import.meta.url);
    // Running from TypeScript sources (tests, tsx): the worker registers the tsx loader first.
    const boot = ts ? tsWorkerBoot(url) : '';
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = ts ? new Worker(boot, { eval: true }) : new Worker(url);
      pool.workers.push(w);
      pool.busy.push(0);
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
    this.busy[w.worker]!--;
    if (r.error !== undefined) w.reject(new Error(r.error));
    else w.resolve({ data: r.data!, overflows: r.overflows! });
  }

  private fail(e: Error): void {
    this.failed = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  /** Hands `bytes` over to a worker (transferred: unusable here afterwards). */
  submit(seq: number, bytes: Uint8Array, firstLine: number): Promise<RowsResult> {
    if (this.failed) return Promise.reject(this.failed);
    let k = 0;
    for (let i = 1; i < this.busy.length; i++) if (this.busy[i]! < this.busy[k]!) k = i;
    this.busy[k]!++;
    const p = new Promise<RowsResult>((resolve, reject) => this.waiting.set(seq, { worker: k, resolve, reject }));
    this.workers[k]!.postMessage({ type: 'chunk', seq, bytes, firstLine }, [bytes.buffer as ArrayBuffer]);
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
  const chunkBytes = Math.max(1, o.chunkBytes ?? 1 << 20);
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
    // Enough queued work that no worker waits on the main thread, few enough to bound memory.
    const maxInflight = Math.max(2, nWorkers * 3);
    let seq = 0;
    const take = (r: RowsResult) => {
      w.writeBytes(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
      header.rows += r.data.length / width;
      header.overflows += r.overflows;
      o.onProgress?.(header.rows);
    };
    for await (const c of readChunks(o.source, chunkBytes)) {
      if (!pool) {
        take(tokenizeChunk(o.tokenizer, settings, c.bytes, c.firstLine, o.source));
        continue;
      }
      const p = pool.submit(seq++, c.bytes, c.firstLine);
      p.catch(() => undefined);
      inflight.push(p);
      while (inflight.length >= maxInflight) take(await inflight.shift()!);
    }
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
