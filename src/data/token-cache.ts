import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { DataError } from './errors.js';

/**
 * Token cache file: ids tokenised once, read back by row (random access) by training and eval.
 *
 *   bytes 0..7     magic "BFGTOKC\0"
 *   bytes 8..11    format version (uint32 LE)
 *   bytes 12..15   header JSON length (uint32 LE)
 *   bytes 16..     header JSON (CacheHeader), space-padded to HEADER_BYTES
 *   HEADER_BYTES.. rows x width int32 LE
 *
 * Mentions: a row is the context ids (max_context_length, 0-padded) then the label id.
 * Entities: a row is the candidate ids (max_cand_length, 0-padded), row i = entity line i.
 * A cache is reused only when magic, version, kind, tokenizer hash, lengths and the source file's
 * size and mtime all match; anything else is a reason to rebuild, never to reuse.
 */

export const CACHE_MAGIC = Buffer.from('BFGTOKC\0', 'latin1');
export const CACHE_VERSION = 1;
export const HEADER_BYTES = 4096;

export type CacheKind = 'mentions' | 'entities';

export interface CacheSource {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface CacheHeader {
  kind: CacheKind;
  tokenizerHash: string;
  /** Context window (mentions) or 0. */
  maxContextLength: number;
  /** Candidate window (entities) or 0. */
  maxCandLength: number;
  /** int32 per row. */
  width: number;
  rows: number;
  source: CacheSource;
  /** Mentions whose window the original would have rejected (see blink-inputs.ts). */
  overflows: number;
}

/** What a caller expects a cache to have been built with. */
export interface CacheExpectation {
  kind: CacheKind;
  tokenizerHash: string;
  maxContextLength: number;
  maxCandLength: number;
  sourcePath: string;
}

export function sourceStamp(path: string): CacheSource {
  const st = statSync(path);
  return { path, size: st.size, mtimeMs: st.mtimeMs };
}

export function encodeHeader(h: CacheHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  if (16 + json.length > HEADER_BYTES) throw new Error('token cache header too long');
  const buf = Buffer.alloc(HEADER_BYTES, 0x20);
  CACHE_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(CACHE_VERSION, 8);
  buf.writeUInt32LE(json.length, 12);
  json.copy(buf, 16);
  return buf;
}

/** Read a cache file's header; throws DataError when it is not a (complete) cache of this version. */
export function readHeader(path: string): CacheHeader {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    const n = readSync(fd, buf, 0, HEADER_BYTES, 0);
    if (n < 16 || !buf.subarray(0, 8).equals(CACHE_MAGIC)) throw new DataError(path, undefined, 'not a biofeg token cache (bad magic)');
    const version = buf.readUInt32LE(8);
    if (version !== CACHE_VERSION) throw new DataError(path, undefined, `token cache version ${version}, expected ${CACHE_VERSION}`);
    const len = buf.readUInt32LE(12);
    let h: CacheHeader;
    try {
      h = JSON.parse(buf.subarray(16, 16 + len).toString('utf8')) as CacheHeader;
    } catch {
      throw new DataError(path, undefined, 'token cache header is not valid JSON');
    }
    const want = HEADER_BYTES + h.rows * h.width * 4;
    const size = fstatSync(fd).size;
    if (size !== want) throw new DataError(path, undefined, `token cache is ${size} bytes, expected ${want} (truncated?)`);
    return h;
  } finally {
    closeSync(fd);
  }
}

/** Why an existing cache cannot be reused, or null when it can. */
export function staleReason(path: string, want: CacheExpectation): string | null {
  if (!existsSync(path)) return 'no cache yet';
  let h: CacheHeader;
  try {
    h = readHeader(path);
  } catch (e) {
    return (e as Error).message;
  }
  if (h.kind !== want.kind) return `cache holds ${h.kind}, expected ${want.kind}`;
  if (h.tokenizerHash !== want.tokenizerHash) return `made with another tokenizer (${h.tokenizerHash} != ${want.tokenizerHash})`;
  if (h.maxContextLength !== want.maxContextLength) return `max_context_length ${h.maxContextLength} != ${want.maxContextLength}`;
  if (h.maxCandLength !== want.maxCandLength) return `max_cand_length ${h.maxCandLength} != ${want.maxCandLength}`;
  let src: CacheSource;
  try {
    src = sourceStamp(want.sourcePath);
  } catch {
    return `source ${want.sourcePath} is missing`;
  }
  if (src.size !== h.source.size || src.mtimeMs !== h.source.mtimeMs) return `source ${want.sourcePath} changed since the cache was made`;
  return null;
}

/** Random-access reader of a token cache (synchronous preads; no whole-file load). */
export class TokenCache {
  readonly header: CacheHeader;
  private fd: number;

  constructor(readonly path: string) {
    this.header = readHeader(path);
    this.fd = openSync(path, 'r');
  }

  get rows(): number {
    return this.header.rows;
  }
  get width(): number {
    return this.header.width;
  }

  /** Rows [start, start + count) as one row-major Int32Array. */
  readRange(start: number, count: number): Int32Array {
    if (start < 0 || count < 0 || start + count > this.rows)
      throw new RangeError(`rows ${start}..${start + count} outside 0..${this.rows}`);
    const out = new Int32Array(count * this.width);
    const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    let got = 0;
    const pos = HEADER_BYTES + start * this.width * 4;
    while (got < bytes.length) {
      const n = readSync(this.fd, bytes, got, bytes.length - got, pos + got);
      if (n === 0) throw new DataError(this.path, undefined, 'unexpected end of token cache');
      got += n;
    }
    return out;
  }

  /** One row. */
  row(i: number): Int32Array {
    return this.readRange(i, 1);
  }

  /** Rows at arbitrary indices (a shuffled batch), row-major; consecutive runs are read at once. */
  readRows(indices: ArrayLike<number>): Int32Array {
    const out = new Int32Array(indices.length * this.width);
    let k = 0;
    while (k < indices.length) {
      let run = 1;
      while (k + run < indices.length && indices[k + run] === indices[k]! + run) run++;
      out.set(this.readRange(indices[k]!, run), k * this.width);
      k += run;
    }
    return out;
  }

  /** Mentions: split a row into its context ids and label id. */
  static mentionRow(row: Int32Array, width: number): { ids: Int32Array; labelId: number } {
    return { ids: row.subarray(0, width - 1), labelId: row[width - 1]! };
  }

  close(): void {
    closeSync(this.fd);
  }
}
