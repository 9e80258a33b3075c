// The entity index on disk, a folder:
//   index.json             the manifest (the commit point of every update): count, dim, dtype,
//                          model hash, candidate window, and the two data files of this generation
//   vectors.<gen>.bin      the vectors: an entity-pool file (eval/entity-pool.ts: magic, version,
//                          JSON header with dims, dtype, model hash and count; then the values, f32
//                          or bf16 little-endian), so evaluation caches and indexes share one format
//   entities.<gen>.bin     ids and names: a string table read in one go, decoded per row on demand
//   texts.<gen>.bin        ids and each entity's text (the candidate window's description), the
//                          same string table format: read only by a Linker that reranks (a
//                          cross-encoder reads title and text); indexes built before it lack it
// An update writes a new generation's files, then replaces index.json atomically, then removes
// the previous generation: a crash at any point leaves a complete index (the old or the new).
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

import { AtomicOutputs, writeFileAtomic } from '../data/atomic.js';
import { CheckpointRejectedError, InputError } from '../errors.js';
import { type DeviceName, mappedTensor, type NativeTensor, tensor } from '../native.js';
import {
  encodePoolHeader,
  loadPoolFile,
  POOL_HEADER_BYTES,
  type PoolDType,
  type PoolFileHeader,
  poolValueBytes,
  readPoolHeader,
} from '../eval/entity-pool.js';

export const INDEX_MANIFEST = 'index.json';
export const INDEX_FORMAT = 'biofeg-entity-index';
export const INDEX_VERSION = 1;
const STRINGS_MAGIC = Buffer.from('BFGENTS\0', 'latin1');
const STRINGS_VERSION = 1;
const LITTLE_ENDIAN = endianness() === 'LE';

/** index.json. */
export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  generation: number;
  vectors: string;
  entities: string;
  /** ids and entity texts (a string table), for reranking; absent in indexes built before it. */
  texts?: string;
  count: number;
  dim: number;
  dtype: PoolDType;
  /** The candidate-side hash of the model the vectors came from (link/model.ts candidateHash). */
  modelHash: string;
  maxCandLength: number;
  /** Where the model was read from when the index was built (informational). */
  model: string;
}

/** Reads and checks `dir/index.json` and its vectors header; any mismatch is a CheckpointRejectedError. */
export function readManifest(dir: string): IndexManifest {
  const path = join(dir, INDEX_MANIFEST);
  if (!existsSync(path))
    throw new CheckpointRejectedError(dir, `${dir}: no ${INDEX_MANIFEST} (not an entity index; build one with \`biofeg index\`)`);
  let m: IndexManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as IndexManifest;
  } catch (e) {
    throw new CheckpointRejectedError(path, `${path}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new CheckpointRejectedError(path, `${path}: ${what}`);
  };
  if (typeof m !== 'object' || m === null || m.format !== INDEX_FORMAT) bad(`expected format "${INDEX_FORMAT}"`);
  if (m.version !== INDEX_VERSION) bad(`version ${String(m.version)}: this biofeg reads version ${INDEX_VERSION}`);
  for (const k of ['generation', 'count', 'dim', 'maxCandLength'] as const)
    if (!Number.isSafeInteger(m[k]) || m[k] < 0) bad(`"${k}" should be a non-negative integer`);
  if (m.dtype !== 'f32' && m.dtype !== 'bf16') bad('"dtype" should be f32 or bf16');
  for (const k of ['vectors', 'entities', 'modelHash'] as const)
    if (typeof m[k] !== 'string' || m[k] === '' || (k !== 'modelHash' && /[/\\]/.test(m[k]))) bad(`"${k}" should be a file name`);
  if (m.texts !== undefined && (typeof m.texts !== 'string' || m.texts === '' || /[/\\]/.test(m.texts)))
    bad('"texts" should be a file name');
  // The files the manifest names must be there: a missing one is this index's fault, not a raw ENOENT later.
  for (const k of ['entities', 'texts'] as const) {
    const f = m[k];
    if (f !== undefined && !existsSync(join(dir, f))) bad(`${f}: missing (the manifest's "${k}")`);
  }
  const vpath = join(dir, m.vectors);
  const h = readPoolHeader(vpath);
  if (!h) bad(`${m.vectors}: missing, truncated or not an entity vectors file`);
  if (h!.rows !== m.count || h!.dim !== m.dim || h!.dtype !== m.dtype || h!.hash !== m.modelHash)
    bad(`${m.vectors}: its header (${h!.rows} x ${h!.dim} ${h!.dtype}) does not match the manifest (${m.count} x ${m.dim} ${m.dtype})`);
  return m;
}

/** Ids and names, one buffer; a row is decoded only when asked for. */
export class StringTable {
  private constructor(
    readonly count: number,
    private readonly idOff: Uint32Array,
    private readonly nameOff: Uint32Array,
    private readonly blob: Buffer,
  ) {}

  static read(path: string): StringTable {
    return StringTable.from(readFileSync(path), path);
  }

  /** A table from its file's bytes (`path` names it in errors). */
  static from(b: Buffer, path: string): StringTable {
    const bad = (): never => {
      throw new CheckpointRejectedError(path, `${path}: truncated or not an entity string table`);
    };
    if (b.length < 16 || !b.subarray(0, 8).equals(STRINGS_MAGIC) || b.readUInt32LE(8) !== STRINGS_VERSION) bad();
    const n = b.readUInt32LE(12);
    const offBytes = (n + 1) * 4;
    if (b.length < 16 + 2 * offBytes) bad();
    // Offsets are copied out (the file buffer need not be 4-byte aligned).
    const read = (at: number): Uint32Array => {
      const out = new Uint32Array(n + 1);
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b.subarray(at, at + offBytes));
      else for (let i = 0; i <= n; i++) out[i] = b.readUInt32LE(at + 4 * i);
      return out;
    };
    const idOff = read(16);
    const nameOff = read(16 + offBytes);
    const blob = b.subarray(16 + 2 * offBytes);
    if (idOff[n]! > nameOff[0]! || nameOff[n]! !== blob.length) bad();
    return new StringTable(n, idOff, nameOff, blob);
  }

  id(i: number): string {
    return this.blob.toString('utf8', this.idOff[i]!, this.idOff[i + 1]!);
  }
  name(i: number): string {
    return this.blob.toString('utf8', this.nameOff[i]!, this.nameOff[i + 1]!);
  }
  /** id -> row, built on first use (updates only; linking never needs it). */
  ids(): Map<string, number> {
    const m = new Map<string, number>();
    for (let i = 0; i < this.count; i++) m.set(this.id(i), i);
    return m;
  }
}

/** The bytes of a string table of `ids` and `names`. */
export function encodeStrings(ids: readonly string[], names: readonly string[]): Buffer[] {
  const n = ids.length;
  const idBufs = ids.map((s) => Buffer.from(s, 'utf8'));
  const nameBufs = names.map((s) => Buffer.from(s, 'utf8'));
  const head = Buffer.alloc(16 + 2 * (n + 1) * 4);
  STRINGS_MAGIC.copy(head, 0);
  head.writeUInt32LE(STRINGS_VERSION, 8);
  head.writeUInt32LE(n, 12);
  let off = 0;
  let at = 16;
  for (const list of [idBufs, nameBufs]) {
    for (const s of list) {
      head.writeUInt32LE(off, at);
      at += 4;
      off += s.length;
      if (off > 0xffffffff) throw new InputError('(entities)', undefined, 'ids and names exceed 4 GiB of UTF-8');
    }
    head.writeUInt32LE(off, at);
    at += 4;
    // The name offsets continue after the ids: one blob, ids then names.
  }
  return [head, ...idBufs, ...nameBufs];
}

/** f32 -> bf16 bits, round to nearest even (NaN kept a NaN). */
export function toBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Little-endian bytes of vector values in `dtype`. */
export function vectorBytes(v: Float32Array, dtype: PoolDType): Uint8Array {
  const a = dtype === 'bf16' ? toBf16(v) : v;
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.byteLength);
  if (a instanceof Uint16Array) a.forEach((x, i) => out.writeUInt16LE(x, 2 * i));
  else a.forEach((x, i) => out.writeFloatLE(x, 4 * i));
  return out;
}

/**
 * The index's vectors as a [count, dim] tensor of `dtype` on `device`, without per-row work: on the
 * host in the file's dtype, the file memory-mapped (Tensor.mapFile: no copy; the pages are the
 * page cache's, shared by every process serving the index); on a device, one read straight into
 * the tensor (Tensor.readFile); with another dtype (a bf16 index held as f32 where the top-k takes
 * f32 only) or an addon without these, chunk by chunk through loadPoolFile's conversion.
 */
export function loadIndexVectors(
  path: string,
  m: Pick<IndexManifest, 'count' | 'dim' | 'dtype'>,
  device: DeviceName,
  dtype: PoolDType,
): NativeTensor {
  const shape = [m.count, m.dim];
  if (device === 'cpu' && dtype === m.dtype) {
    const t = mappedTensor(path, POOL_HEADER_BYTES, dtype, shape);
    if (t) return t;
  }
  const pool = tensor(device, dtype, shape);
  try {
    if (dtype === m.dtype && pool.readFile) pool.readFile(path, POOL_HEADER_BYTES);
    else loadPoolFile(path, pool, 4096, undefined, m.dtype);
  } catch (e) {
    pool.dispose();
    throw e;
  }
  return pool;
}

/** Reads rows [start, start + n) of a vectors file as raw bytes (for copying into a new generation). */
export function readVectorRows(path: string, dim: number, dtype: PoolDType, start: number, n: number): Buffer {
  const vb = poolValueBytes(dtype);
  const out = Buffer.alloc(n * dim * vb);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < out.length) {
      const r = readSync(fd, out, got, out.length - got, POOL_HEADER_BYTES + start * dim * vb + got);
      if (r === 0) throw new CheckpointRejectedError(path, `${path}: unexpected end of the entity vectors`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export interface GenerationWriter {
  /** Appends vector rows (raw little-endian bytes in the index's dtype). */
  rows(bytes: Uint8Array): void;
}

/**
 * Writes generation `m.generation` of the index in `dir`: `fill` appends exactly `m.count` rows of
 * vectors, then the string table and the manifest are written, then the files of generations other
 * than this one are removed. Nothing of the previous generation changes until the manifest is
 * replaced; if `fill` or a write throws, the temporaries are removed and the index is untouched.
 */
export function writeGeneration(
  dir: string,
  m: Omit<IndexManifest, 'vectors' | 'entities' | 'texts' | 'format' | 'version'>,
  ids: readonly string[],
  names: readonly string[],
  fill: (w: GenerationWriter) => void | Promise<void>,
  texts?: readonly string[],
): Promise<IndexManifest> {
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    ...m,
    vectors: `vectors.${m.generation}.bin`,
    entities: `entities.${m.generation}.bin`,
    ...(texts ? { texts: `texts.${m.generation}.bin` } : {}),
  };
  if (ids.length !== m.count || names.length !== m.count || (texts && texts.length !== m.count))
    throw new Error(`index: ${ids.length} ids, ${names.length} names and ${texts?.length ?? '-'} texts for ${m.count} rows`);
  const out = new AtomicOutputs();
  const run = async (): Promise<IndexManifest> => {
    try {
      const v = out.open(join(dir, manifest.vectors));
      const header: PoolFileHeader = { format: 'biofeg-entity-embeddings', hash: m.modelHash, rows: m.count, dim: m.dim, dtype: m.dtype };
      v.writeBytes(encodePoolHeader(header));
      const want = m.count * m.dim * poolValueBytes(m.dtype);
      let wrote = 0;
      await fill({
        rows: (b) => {
          wrote += b.length;
          if (wrote > want) throw new Error(`index: more vector bytes than ${m.count} rows`);
          v.writeBytes(b);
        },
      });
      if (wrote !== want) throw new Error(`index: ${wrote} vector bytes written, ${want} expected`);
      const s = out.open(join(dir, manifest.entities));
      for (const b of encodeStrings(ids, names)) s.writeBytes(b);
      if (texts) {
        const t = out.open(join(dir, manifest.texts!));
        for (const b of encodeStrings(ids, texts)) t.writeBytes(b);
      }
      out.commit();
    } catch (e) {
      out.abort();
      throw e;
    }
    // The commit point: readers see the old generation until this rename, the new one after it.
    writeFileAtomic(join(dir, INDEX_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    removeOtherGenerations(dir, m.generation);
    return manifest;
  };
  return run();
}

/** Removes data files of every generation but `keep` (the replaced one, and any a crash left behind). */
export function removeOtherGenerations(dir: string, keep: number): void {
  for (const f of readdirSync(dir)) {
    const g = /^(?:vectors|entities|texts)\.(\d+)\.bin$/.exec(f);
    if (g && Number(g[1]) !== keep) rmSync(join(dir, f), { force: true });
  }
}
