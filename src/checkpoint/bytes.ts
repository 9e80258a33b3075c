/**
 * Byte sources (a file read by position, or memory) and element conversions to f32 / i32.
 * Files are read with positioned reads, never mapped: a reader holds at most the tensor it is
 * converting besides its outputs.
 */
import { closeSync } from 'node:fs';
import { endianness } from 'node:os';
import { openRegularSync, readFullySync } from '../data/files.js';
import { CheckpointError, DTYPE_BYTES, type FileDType } from './types.js';

export interface ByteSource {
  /** Name used in error messages (the path, or a label for memory). */
  readonly name: string;
  readonly size: number;
  /** Fresh bytes [pos, pos+len); throws a CheckpointError when that lies beyond the end. */
  read(pos: number, len: number, what: string): Uint8Array;
  /** Fill `dst` from position `pos`. */
  readInto(pos: number, dst: Uint8Array, what: string): void;
  close(): void;
}

function checkRange(src: ByteSource, pos: number, len: number, what: string): void {
  if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(len) || pos < 0 || len < 0 || pos + len > src.size) {
    throw new CheckpointError(
      src.name,
      `${what}: bytes ${pos}..${pos + len} lie beyond the end of the file (${src.size} bytes; truncated?)`,
    );
  }
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = '<memory>',
  ) {
    this.size = bytes.length;
  }
  read(pos: number, len: number, what: string): Uint8Array {
    checkRange(this, pos, len, what);
    return new Uint8Array(this.bytes.subarray(pos, pos + len)); // a copy, also for a Buffer
  }
  readInto(pos: number, dst: Uint8Array, what: string): void {
    checkRange(this, pos, dst.length, what);
    dst.set(this.bytes.subarray(pos, pos + dst.length));
  }
  /** A view without copying (for the in-memory parsers). */
  view(pos: number, len: number, what: string): Uint8Array {
    checkRange(this, pos, len, what);
    return this.bytes.subarray(pos, pos + len);
  }
  close(): void {}
}

/** A regular file read by position (a FIFO, device or folder is refused at open, naming the path). */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;
  constructor(readonly name: string) {
    const { fd, size } = openRegularSync(name, (d) => new CheckpointError(name, d));
    this.fd = fd;
    this.size = size;
  }
  read(pos: number, len: number, what: string): Uint8Array {
    checkRange(this, pos, len, what);
    const out = new Uint8Array(len);
    this.readInto(pos, out, what);
    return out;
  }
  readInto(pos: number, dst: Uint8Array, what: string): void {
    checkRange(this, pos, dst.length, what);
    if (this.fd === null) throw new CheckpointError(this.name, 'read after close');
    readFullySync(this.fd, dst, pos, (d) => new CheckpointError(this.name, `${what}: ${d}`));
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

const LITTLE = endianness() === 'LE';

function requireLittleEndianHost(name: string): void {
  if (!LITTLE) throw new CheckpointError(name, 'checkpoint reading needs a little-endian host');
}

let halfTable: Float32Array | null = null;

/** IEEE binary16 -> f32 for all 65536 bit patterns (built once, 256 KiB). */
function getHalfTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** Copy into a fresh, aligned buffer when `bytes` cannot back a typed array of `align`. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  // new Uint8Array(x) copies (Buffer#slice would not).
  return bytes.byteOffset % align === 0 ? bytes : new Uint8Array(bytes);
}

/**
 * Convert `count` little-endian elements of `dtype` to f32 (floating dtypes) or i32 (integer and
 * boolean dtypes). `what` names the tensor in errors (I64 values outside the i32 range).
 * The result may share memory with `bytes` (F32 / I32 when aligned).
 */
export function decodeElements(file: string, what: string, dtype: FileDType, bytes: Uint8Array, count: number): Float32Array | Int32Array {
  requireLittleEndianHost(file);
  const need = count * DTYPE_BYTES[dtype];
  if (bytes.length !== need) {
    throw new CheckpointError(file, `${what}: expected ${need} bytes for ${count} ${dtype} elements, got ${bytes.length}`);
  }
  switch (dtype) {
    case 'F32': {
      const b = aligned(bytes, 4);
      return new Float32Array(b.buffer, b.byteOffset, count);
    }
    case 'I32': {
      const b = aligned(bytes, 4);
      return new Int32Array(b.buffer, b.byteOffset, count);
    }
    case 'F64': {
      const b = aligned(bytes, 8);
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, count));
    }
    case 'F16': {
      const b = aligned(bytes, 2);
      const src = new Uint16Array(b.buffer, b.byteOffset, count);
      const table = getHalfTable();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'BF16': {
      const b = aligned(bytes, 2);
      const src = new Uint16Array(b.buffer, b.byteOffset, count);
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'I64': {
      const b = aligned(bytes, 4);
      const words = new Int32Array(b.buffer, b.byteOffset, count * 2);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = words[2 * i]!;
        const hi = words[2 * i + 1]!;
        // In range exactly when the high word is the sign extension of the low word.
        if (hi !== lo >> 31) {
          const v = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
          throw new CheckpointError(file, `${what}: I64 element ${i} = ${v} does not fit in 32 bits`);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'I16': {
      const b = aligned(bytes, 2);
      return Int32Array.from(new Int16Array(b.buffer, b.byteOffset, count));
    }
    case 'I8':
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count));
    case 'U8':
      return Int32Array.from(bytes.subarray(0, count));
    case 'BOOL': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = bytes[i]!;
        if (v > 1) throw new CheckpointError(file, `${what}: BOOL element ${i} has byte value ${v}`);
        out[i] = v;
      }
      return out;
    }
  }
}
