// The entity pool: every dictionary entry through the candidate encoder, in encode_batch_size
// batches, written into one [entities, embedDim] tensor on the model's device (the pool plus one
// batch of working memory). Encodings are cached on disk beside the run's outputs, keyed by a hash
// of the candidate encoder's weights and of the entity token cache, so a second evaluation of the
// same model skips the encoding; any change of weights, tokenizer, window or source rebuilds it.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { Communicator } from '../comm/communicator.js';
import { rankZeroOnly } from '../comm/rank-zero-first.js';
import { AtomicOutputs } from '../data/atomic.js';
import type { TokenCache } from '../data/token-cache.js';
import type { BiEncoder } from '../models/biencoder.js';
import { engineFor, type Engine } from '../engine.js';
import { tensor, type DeviceName, type NativeTensor } from '../native.js';
import { agreeOnPool, encodeOnRanks } from './pool-ranks.js';
import { trimmedBatch } from './token-batch.js';

export type PoolDType = 'f32' | 'bf16';

export const POOL_MAGIC = Buffer.from('BFGEMBS\0', 'latin1');
export const POOL_VERSION = 1;
/** Header region of a pool file: magic, u32 version, u32 JSON length, JSON, space padding. */
export const POOL_HEADER_BYTES = 4096;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface PoolFileHeader {
  format: 'biofeg-entity-embeddings';
  /** Full sha256 key (the file name carries its first 16 hex digits). */
  hash: string;
  rows: number;
  dim: number;
  /** Values on disk: f32 (the evaluation's cache, whatever its pool) or bf16 (an entity index built with dtype bf16). */
  dtype: PoolDType;
}

/** Bytes of one value on disk. */
export const poolValueBytes = (dtype: PoolDType): number => (dtype === 'bf16' ? 2 : 4);

export interface EntityPoolOptions {
  batchSize: number;
  /**
   * Pool dtype; bf16 halves the pool. Needs a backend whose top-k takes bf16 (CUDA; on CPU only
   * builds whose fast backend has a bf16 top-k, see poolDtypeSupported). Default f32.
   */
  dtype?: PoolDType;
  /** Folder of the disk cache (`entity_embeddings.<hash>.f32`); omitted = no disk cache. */
  cacheDir?: string;
  onProgress?: (done: number, total: number) => void;
  /**
   * The ranks of a multi-rank run: each encodes its share of the batches and every rank ends with
   * the whole pool, the very batches a single process encodes (eval/pool-ranks.ts); only rank 0
   * writes the disk cache. Every rank must call with the same model and entities; one that fails
   * leaves the others in a gather, so the caller ends the job (Communicator.abortJob). Omitted or
   * one rank: this process encodes every entity.
   */
  comm?: Communicator;
}

export interface EntityPool {
  /** [rows, dim] on the model's device. */
  tensor: NativeTensor;
  rows: number;
  dim: number;
  dtype: PoolDType;
  /** The cache key (sha256 hex). */
  hash: string;
  /** True when read from the disk cache instead of encoded. */
  fromCache: boolean;
  cachePath?: string;
  dispose(): void;
}

/**
 * The disk-cache key: sha256 of the candidate side's flat parameters (BERT and, with add_linear,
 * the projection), the model shape and the entity token cache's header (tokenizer, window, rows,
 * source size and mtime). The source's path is left out so a moved data folder still hits.
 */
export function entityPoolHash(model: BiEncoder, entities: TokenCache): string {
  const h = createHash('sha256');
  const { source, ...rest } = entities.header;
  h.update(
    JSON.stringify({
      v: POOL_VERSION,
      embedDim: model.embedDim,
      config: model.config,
      addLinear: model.options.addLinear === true,
      cache: { ...rest, source: { size: source.size, mtimeMs: source.mtimeMs } },
    }),
  );
  for (const part of model.candidate.parts()) {
    h.update(part.prefix);
    const flat = part.params.download() as Float32Array;
    h.update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  }
  return h.digest('hex');
}

export function poolCachePath(dir: string, hash: string): string {
  return join(dir, `entity_embeddings.${hash.slice(0, 16)}.f32`);
}

export function encodePoolHeader(h: PoolFileHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const buf = Buffer.alloc(POOL_HEADER_BYTES, 0x20);
  POOL_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(POOL_VERSION, 8);
  buf.writeUInt32LE(json.length, 12);
  json.copy(buf, 16);
  return buf;
}

/** The header of a pool file, or null when it is not a complete pool file of this version. */
export function readPoolHeader(path: string): PoolFileHeader | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(POOL_HEADER_BYTES);
    const n = readSync(fd, buf, 0, POOL_HEADER_BYTES, 0);
    if (n < 16 || !buf.subarray(0, 8).equals(POOL_MAGIC) || buf.readUInt32LE(8) !== POOL_VERSION) return null;
    const len = buf.readUInt32LE(12);
    if (16 + len > POOL_HEADER_BYTES) return null;
    const h = JSON.parse(buf.subarray(16, 16 + len).toString('utf8')) as PoolFileHeader;
    if (h.format !== 'biofeg-entity-embeddings' || !Number.isInteger(h.rows) || !Number.isInteger(h.dim)) return null;
    if (h.dtype !== 'f32' && h.dtype !== 'bf16') return null;
    if (fstatSync(fd).size !== POOL_HEADER_BYTES + h.rows * h.dim * poolValueBytes(h.dtype)) return null;
    return h;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * dst <- src, converting when the dtypes differ (bf16 pool, or bf16 activations on CUDA): with the
 * engine's cast where its capabilities take both dtypes, else on the host through download and
 * upload (one batch, O(batch)).
 */
export function copyInto(eng: Engine, src: NativeTensor, dst: NativeTensor): void {
  const cast = eng.floats('cast');
  if (src.dtype === dst.dtype) dst.copyFrom(src);
  else if (cast.includes(src.dtype) && cast.includes(dst.dtype)) eng.cast(src, dst);
  else dst.upload(src.download() as Float32Array);
}

/**
 * The dtype of the queries searched against a pool, as the device's top-k declares it
 * (BackendCaps.topkF32Queries): f32 whatever the pool (the fast CPU top-k widens a bf16 pool),
 * else the pool's own (CUDA pairs like with like).
 */
export function queryDtype(device: DeviceName, pool: PoolDType): PoolDType {
  return engineFor(device).caps.topkF32Queries ? 'f32' : pool;
}

/**
 * Whether this build can hold and search a pool of `dtype` on `device`: the pool dtypes its top-k
 * declares (BackendCaps: f32 always; bf16 on the fast CPU backend and CUDA).
 */
export function poolDtypeSupported(device: DeviceName, dtype: PoolDType): boolean {
  return engineFor(device).floats('topk').includes(dtype);
}

function f32Bytes(a: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(4 * i, a[i]!, true);
  return out;
}

/**
 * Fill `pool` [rows, dim] from the values of a pool file (f32 or bf16 values: `fileDtype`),
 * `chunkRows` rows at a time: host memory is one chunk plus one f32 staging chunk for a bf16 pool
 * (the engine's cast narrows it far faster than a converting upload), never the whole pool.
 */
export function loadPoolFile(
  path: string,
  pool: NativeTensor,
  chunkRows: number,
  onProgress?: (d: number, t: number) => void,
  fileDtype: PoolDType = 'f32',
): void {
  if (pool.shape.length !== 2) throw new Error(`entity pool: expected a [rows, dim] tensor, got [${pool.shape.join(', ')}]`);
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`entity pool: chunk rows must be >= 1, got ${chunkRows}`);
  const [rows, dim] = pool.shape as [number, number];
  chunkRows = Math.min(chunkRows, rows);
  const fd = openSync(path, 'r');
  const eng = engineFor(pool);
  const cast = eng.floats('cast');
  let staging: NativeTensor | undefined;
  try {
    if (pool.dtype !== 'f32' && cast.includes('f32') && cast.includes(pool.dtype))
      staging = tensor(pool.device as DeviceName, 'f32', [chunkRows, dim]);
    const host = new Float32Array(chunkRows * dim);
    const vb = poolValueBytes(fileDtype);
    // bf16 values are read into the upper half of the chunk, then widened in place (exact).
    const half = fileDtype === 'bf16' ? new Uint16Array(host.buffer, chunkRows * dim * 2, chunkRows * dim) : undefined;
    const bytes = half ? new Uint8Array(half.buffer, half.byteOffset, half.byteLength) : new Uint8Array(host.buffer);
    const bits = new Uint32Array(host.buffer);
    for (let start = 0; start < rows; start += chunkRows) {
      const n = Math.min(chunkRows, rows - start);
      const want = n * dim * vb;
      let got = 0;
      while (got < want) {
        const r = readSync(fd, bytes, got, want - got, POOL_HEADER_BYTES + start * dim * vb + got);
        if (r === 0) throw new Error(`${path}: unexpected end of the entity embeddings`);
        got += r;
      }
      const vals = host.subarray(0, n * dim);
      if (half && LITTLE_ENDIAN && (n * dim) % 2 === 0 && half.byteOffset % 4 === 0) {
        // Two values per 32-bit read: the low half is the first value.
        const pairs = new Uint32Array(half.buffer, half.byteOffset, (n * dim) / 2);
        for (let i = 0, j = 0; i < pairs.length; i++, j += 2) {
          const w = pairs[i]!;
          bits[j] = w << 16;
          bits[j + 1] = w & 0xffff0000;
        }
      } else if (half) {
        for (let i = 0; i < n * dim; i++) {
          const b = LITTLE_ENDIAN ? half[i]! : ((half[i]! & 0xff) << 8) | (half[i]! >> 8);
          bits[i] = b << 16;
        }
      } else if (!LITTLE_ENDIAN) {
        const dv = new DataView(host.buffer);
        for (let i = 0; i < vals.length; i++) vals[i] = dv.getFloat32(4 * i, true);
      }
      const dst = pool.view(start * dim, [n, dim]);
      if (staging) {
        const s = staging.view(0, [n, dim]);
        s.upload(vals);
        eng.cast(s, dst);
        s.dispose();
      } else dst.upload(vals);
      dst.dispose();
      onProgress?.(start + n, rows);
    }
  } finally {
    staging?.dispose();
    closeSync(fd);
  }
}

/** The header of the pool file at `path` when it holds this pool (same key and shape), else undefined. */
function usableCache(path: string, hash: string, rows: number, dim: number): PoolFileHeader | undefined {
  if (!existsSync(path)) return undefined;
  const h = readPoolHeader(path);
  return h && h.hash === hash && h.rows === rows && h.dim === dim ? h : undefined;
}

/** Entity rows [start, start + n) through the candidate encoder (eval mode). */
function encodeRows(model: BiEncoder, entities: TokenCache, start: number, n: number): Promise<NativeTensor> {
  return model.encode('candidate', trimmedBatch(entities.readRange(start, n), n, entities.width, entities.width), false);
}

/**
 * Encode every row of the entity token cache through the candidate encoder (eval mode) into one
 * pool tensor on the model's device. With `cacheDir`, reuse `entity_embeddings.<hash>.f32` when
 * its key matches, else encode and write it (atomically) as the batches come.
 */
export async function encodeEntityPool(model: BiEncoder, entities: TokenCache, o: EntityPoolOptions): Promise<EntityPool> {
  const dtype = o.dtype ?? 'f32';
  if (!poolDtypeSupported(model.device, dtype)) {
    throw new Error(`entity pool: a ${dtype} pool is not supported on ${model.device} by this build (its top-k takes f32 only); use f32`);
  }
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`encode_batch_size must be >= 1, got ${o.batchSize}`);
  const rows = entities.rows;
  const dim = model.embedDim;
  const width = entities.width;
  if (rows === 0) throw new Error(`${entities.path}: the entity token cache has no rows`);
  if (entities.header.kind !== 'entities')
    throw new Error(`${entities.path}: expected an entity token cache, found ${entities.header.kind}`);
  if (width > model.config.maxPositions)
    throw new Error(`max_cand_length ${width} exceeds the model's ${model.config.maxPositions} positions`);
  const hash = entityPoolHash(model, entities);
  const cachePath = o.cacheDir !== undefined ? poolCachePath(o.cacheDir, hash) : undefined;
  const pool = tensor(model.device, dtype, [rows, dim]);
  const result = (fromCache: boolean): EntityPool => ({
    tensor: pool,
    rows,
    dim,
    dtype,
    hash,
    fromCache,
    ...(cachePath ? { cachePath } : {}),
    dispose: () => pool.dispose(),
  });
  try {
    const cached = cachePath !== undefined ? usableCache(cachePath, hash, rows, dim) : undefined;
    const ranks = o.comm !== undefined && o.comm.size > 1 ? o.comm : undefined;
    if (ranks ? agreeOnPool(ranks, hash, cached !== undefined) : cached !== undefined) {
      loadPoolFile(cachePath!, pool, Math.max(o.batchSize, 4096), o.onProgress, cached!.dtype);
      return result(true);
    }
    const out = cachePath && (ranks === undefined || ranks.rank === 0) ? new AtomicOutputs() : undefined;
    try {
      const w = out?.open(cachePath!);
      w?.writeBytes(encodePoolHeader({ format: 'biofeg-entity-embeddings', hash, rows, dim, dtype: 'f32' }));
      const eng = engineFor(model.device);
      if (ranks)
        await encodeSharded(ranks, model, entities, pool, o, (start, v) => w?.writeAt(POOL_HEADER_BYTES + start * dim * 4, f32Bytes(v)));
      else
        for (let start = 0; start < rows; start += o.batchSize) {
          const n = Math.min(o.batchSize, rows - start);
          const emb = await encodeRows(model, entities, start, n);
          const dst = pool.view(start * dim, [n, dim]);
          try {
            copyInto(eng, emb, dst);
          } finally {
            dst.dispose();
          }
          if (w) w.writeBytes(f32Bytes(emb.download() as Float32Array));
          o.onProgress?.(start + n, rows);
        }
      if (ranks) rankZeroOnly(ranks, "write the entity pool's disk cache", () => out?.commit());
      else out?.commit();
    } catch (e) {
      out?.abort();
      throw e;
    }
    return result(false);
  } catch (e) {
    pool.dispose();
    throw e;
  }
}

/**
 * The pool on the ranks of `comm` (pool-ranks.ts). What travels is the encoder's output as f32,
 * not the pool's values: exact for a bf16 encoder output too, what the f32 disk cache holds, and
 * narrowed to a bf16 pool only here, by the cast one process uses, so the pool's bits match its.
 */
async function encodeSharded(
  comm: Communicator,
  model: BiEncoder,
  entities: TokenCache,
  pool: NativeTensor,
  o: EntityPoolOptions,
  write: (start: number, values: Float32Array) => void,
): Promise<void> {
  const dim = model.embedDim;
  const eng = engineFor(model.device);
  const staging = pool.dtype === 'f32' ? undefined : tensor(model.device, 'f32', [o.batchSize, dim]);
  try {
    await encodeOnRanks(comm, {
      rows: entities.rows,
      dim,
      batchSize: o.batchSize,
      encode: async (start, n) => (await encodeRows(model, entities, start, n)).download() as Float32Array,
      place: (start, values) => {
        const n = values.length / dim;
        const dst = pool.view(start * dim, [n, dim]);
        const src = staging?.view(0, [n, dim]);
        try {
          if (src) {
            src.upload(values);
            copyInto(eng, src, dst);
          } else dst.upload(values);
        } finally {
          src?.dispose();
          dst.dispose();
        }
        write(start, values);
      },
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  } finally {
    staging?.dispose();
  }
}
