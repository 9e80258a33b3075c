/**
 * safetensors reader and writer (the format of Hugging Face `model.safetensors`).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}`,
 * then the data section; offsets are relative to its start. Like the reference implementation we
 * require the tensors to tile the data section exactly: sorted by offset, no gap, no overlap, each
 * range exactly numel * dtype size bytes, the last ending at the end of the file.
 *
 * Limits: the header may be at most 100 MB (as in the reference implementation); tensors are read
 * one at a time with positioned reads into their own arrays, so a file of any size that fits in
 * memory once can be read (the JS typed-array limit is 2^32 - 1 elements per tensor on Node 20).
 * The writer stores F32 (Float32Array) and I32 (Int32Array) tensors only.
 */
import { FileSource, MemorySource, decodeElements, type ByteSource } from './bytes.js';
import { writeFileAtomic } from '../data/atomic.js';
import { checkExpected, checkOutputBudget, resolveLimits, type ReadOptions } from './limits.js';
import { JsonSyntaxError, isJsonObject, parseStrictJson, type JsonValue } from './strict-json.js';
import { CheckpointError, DTYPE_BYTES, numelOf, shapeString, type FileDType, type CheckpointTensor, type HostTensor } from './types.js';

export const SAFETENSORS_MAX_HEADER = 100_000_000;

const KNOWN_UNSUPPORTED = ['F8_E4M3', 'F8_E5M2', 'U16', 'U32', 'U64', 'C64', 'F4', 'F6_E2M3', 'F6_E3M2', 'E8M0', 'F8_E8M0'];

export interface SafetensorsEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
  /** Byte range in the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Absolute file position of the data section (8 + header length). */
  dataStart: number;
  /** Entries in file order (sorted by offset). */
  entries: SafetensorsEntry[];
  metadata: Record<string, string> | null;
}

export interface SafetensorsFile {
  tensors: Map<string, CheckpointTensor>;
  metadata: Record<string, string> | null;
}

function parseDType(file: string, name: string, v: unknown): FileDType {
  if (typeof v !== 'string') throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: "dtype" must be a string`);
  if (v in DTYPE_BYTES) return v as FileDType;
  if (KNOWN_UNSUPPORTED.includes(v)) {
    throw new CheckpointError(
      file,
      `tensor ${JSON.stringify(name)}: dtype ${v} is not supported (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
    );
  }
  throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(v)}`);
}

function parseUintArray(file: string, name: string, field: string, v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: "${field}" must be an array of non-negative integers`);
  }
  return v as number[];
}

/** Parse and fully validate the header against the file size. */
export function readSafetensorsHeader(src: ByteSource): SafetensorsHeader {
  const file = src.name;
  if (src.size < 8) throw new CheckpointError(file, `file is ${src.size} bytes, shorter than the 8-byte header length (truncated?)`);
  const lenBytes = src.read(0, 8, 'header length');
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(src.size - 8)) {
    throw new CheckpointError(
      file,
      `header length ${n64} exceeds the ${src.size - 8} bytes after the length field (truncated or not a safetensors file?)`,
    );
  }
  const n = Number(n64);
  if (n > SAFETENSORS_MAX_HEADER) throw new CheckpointError(file, `header length ${n} exceeds the ${SAFETENSORS_MAX_HEADER}-byte limit`);
  if (n < 2) throw new CheckpointError(file, `header length ${n} is too small for a JSON object`);
  const hb = src.read(8, n, 'header');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(hb);
  } catch {
    throw new CheckpointError(file, 'header is not valid UTF-8');
  }
  if (text[0] !== '{') throw new CheckpointError(file, 'header does not start with "{" (not a safetensors file?)');
  let json: JsonValue;
  try {
    json = parseStrictJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new CheckpointError(file, `header byte ~${8 + e.position}: invalid JSON: ${e.message}`);
    throw e;
  }
  if (!isJsonObject(json)) throw new CheckpointError(file, 'header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isJsonObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
        throw new CheckpointError(file, '"__metadata__" must map strings to strings');
      }
      metadata = { ...(v as Record<string, string>) };
      continue;
    }
    if (!isJsonObject(v)) throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: entry must be an object`);
    const dtype = parseDType(file, name, v['dtype']);
    const shape = parseUintArray(file, name, 'shape', v['shape']);
    const offs = parseUintArray(file, name, 'data_offsets', v['data_offsets']);
    if (offs.length !== 2) throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: "data_offsets" must have 2 entries`);
    const [begin, end] = offs as [number, number];
    if (end < begin)
      throw new CheckpointError(file, `tensor ${JSON.stringify(name)}: data_offsets [${begin}, ${end}] end before they begin`);
    const numel = numelOf(shape);
    const want = numel * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(want) || end - begin !== want) {
      throw new CheckpointError(
        file,
        `tensor ${JSON.stringify(name)}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${shapeString(shape)} needs ${want}`,
      );
    }
    entries.push({ name, dtype, shape, begin, end });
  }

  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | null = null;
  for (const e of entries) {
    if (e.end > dataSize) {
      throw new CheckpointError(
        file,
        `tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] lie beyond the end of the file (data section is ${dataSize} bytes; truncated?)`,
      );
    }
    if (e.begin < pos && prev) {
      throw new CheckpointError(
        file,
        `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}] and ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlap`,
      );
    }
    if (e.begin > pos) {
      throw new CheckpointError(file, `data bytes ${pos}..${e.begin} before tensor ${JSON.stringify(e.name)} belong to no tensor`);
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataSize) {
    throw new CheckpointError(
      file,
      `data section is ${dataSize} bytes but the tensors cover ${pos}: ${dataSize - pos} trailing bytes belong to no tensor`,
    );
  }
  return { dataStart, entries, metadata };
}

function readWith(src: ByteSource, filter: ((name: string) => boolean) | undefined, opts: ReadOptions): SafetensorsFile {
  const h = readSafetensorsHeader(src);
  const picked = filter ? h.entries.filter((e) => filter(e.name)) : h.entries;
  // Names, shapes and sizes are checked before any tensor data is read.
  checkExpected(src.name, picked, opts.expect);
  checkOutputBudget(src.name, picked, resolveLimits(opts.limits));
  const tensors = new Map<string, CheckpointTensor>();
  for (const e of picked) {
    const numel = numelOf(e.shape);
    let data: Float32Array | Int32Array;
    if (e.dtype === 'F32' || e.dtype === 'I32') {
      // Read straight into the tensor's own aligned storage.
      data = e.dtype === 'F32' ? new Float32Array(numel) : new Int32Array(numel);
      src.readInto(h.dataStart + e.begin, new Uint8Array(data.buffer), `tensor ${JSON.stringify(e.name)}`);
      data = decodeElements(src.name, e.name, e.dtype, new Uint8Array(data.buffer), numel);
    } else {
      const raw = src.read(h.dataStart + e.begin, e.end - e.begin, `tensor ${JSON.stringify(e.name)}`);
      data = decodeElements(src.name, `tensor ${JSON.stringify(e.name)}`, e.dtype, raw, numel);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: h.metadata };
}

/**
 * Read a .safetensors file; `filter` picks the tensors to load (all by default); `opts.expect`
 * checks names and shapes against the model and `opts.limits` bounds the data, before any is read.
 */
export function readSafetensors(path: string, filter?: (name: string) => boolean, opts: ReadOptions = {}): SafetensorsFile {
  const src = new FileSource(path);
  try {
    return readWith(src, filter, opts);
  } finally {
    src.close();
  }
}

/** Parse safetensors bytes held in memory; `label` names them in errors. */
export function decodeSafetensors(bytes: Uint8Array, label = '<memory>', opts: ReadOptions = {}): SafetensorsFile {
  return readWith(new MemorySource(bytes, label), undefined, opts);
}

type TensorSource = Map<string, HostTensor> | Iterable<readonly [string, HostTensor]>;

/** Header bytes and data chunks in file order (names sorted), shared by the two writers. */
function encodeParts(tensors: TensorSource, metadata: Record<string, string> | undefined, label: string): Uint8Array[] {
  const list: Array<[string, HostTensor]> = [];
  const seen = new Set<string>();
  for (const [name, t] of tensors) {
    if (name === '' || name === '__metadata__') throw new CheckpointError(label, `invalid tensor name ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new CheckpointError(label, `duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    if (!(t.data instanceof Float32Array) && !(t.data instanceof Int32Array)) {
      throw new CheckpointError(label, `tensor ${JSON.stringify(name)}: data must be a Float32Array or Int32Array`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numelOf(t.shape) !== t.data.length) {
      throw new CheckpointError(
        label,
        `tensor ${JSON.stringify(name)}: shape ${shapeString(t.shape)} does not match ${t.data.length} elements`,
      );
    }
    list.push([name, t]);
  }
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(label, `__metadata__ value of ${JSON.stringify(k)} must be a string`);
    }
    header['__metadata__'] = metadata;
  }
  let off = 0;
  for (const [name, t] of list) {
    const n = t.data.byteLength;
    header[name] = { dtype: t.data instanceof Float32Array ? 'F32' : 'I32', shape: [...t.shape], data_offsets: [off, off + n] };
    off += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const parts: Uint8Array[] = [len, json];
  for (const [, t] of list) parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return parts;
}

/** Write tensors (F32 / I32) to `path` atomically: temp file in the same folder, then rename. */
export function writeSafetensors(path: string, tensors: TensorSource, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeParts(tensors, metadata, path));
}

/** The bytes `writeSafetensors` would write. */
export function encodeSafetensors(tensors: TensorSource, metadata?: Record<string, string>): Uint8Array {
  return Buffer.concat(encodeParts(tensors, metadata, '<memory>'));
}
