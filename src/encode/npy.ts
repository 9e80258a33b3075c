// NumPy .npy (format 1.0) for float32 C-order matrices: header built by hand, data written
// straight from the Float32Array, through a temporary file renamed into place.
import { existsSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import { DataError } from '../data/errors.js';
import { readRegularFileSync } from '../data/files.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The 1.0 header for a '<f4' array of `shape`, padded with spaces to a multiple of 64 bytes (as numpy does). */
export function npyHeader(shape: readonly number[]): Uint8Array {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new Error(`npy: bad shape [${shape.join(', ')}]`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  const fixed = MAGIC.length + 2 + 2;
  const total = Math.ceil((fixed + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - fixed - 1, ' ') + '\n';
  if (dict.length > 0xffff) throw new Error('npy: header too long for format 1.0');
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1; // major
  out[7] = 0; // minor
  out[8] = dict.length & 0xff;
  out[9] = dict.length >> 8;
  for (let i = 0; i < dict.length; i++) out[fixed + i] = dict.charCodeAt(i);
  return out;
}

/** Writes `data` (row-major, shape `shape`) as a float32 .npy, atomically. */
export function writeNpyF32(path: string, data: Float32Array, shape: readonly number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`npy: shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
  if (endianness() !== 'LE') throw new Error('npy: only little-endian hosts are supported');
  // The output's folder must exist: a mistyped --output path is an error, not a new folder tree.
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new DataError(path, undefined, `cannot write: the folder ${dir} does not exist`);
  writeFileAtomic(path, [npyHeader(shape), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Most bytes readNpyF32 reads (one Buffer). */
export const MAX_NPY_BYTES = 2 ** 32 - 1;

/** Reads a '<f4' C-order .npy written by numpy or by writeNpyF32 (tests, tools); errors are DataErrors naming the file. */
export function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const fail = (d: string) => new DataError(path, undefined, d);
  const buf = readRegularFileSync(path, MAX_NPY_BYTES, fail, 'a .npy file');
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw fail('not a .npy file');
  const major = buf[6]!;
  if (major < 1 || major > 3) throw fail(`.npy format version ${major} is not supported`);
  const hlenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + hlenBytes) throw fail('truncated .npy header');
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + hlenBytes;
  if (start + hlen > buf.length) throw fail(`header of ${hlen} bytes runs past the end of the file (truncated?)`);
  const header = buf.subarray(start, start + hlen).toString('latin1');
  if (!/'descr':\s*'<f4'/.test(header)) throw fail("expected dtype '<f4'");
  if (!/'fortran_order':\s*False/.test(header)) throw fail('expected C order');
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) throw fail('no shape in the header');
  const shape = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail(`bad shape (${m[1]})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  if (buf.length - off !== n * 4) throw fail(`${buf.length - off} data bytes, the shape needs ${n * 4}`);
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(buf.subarray(off));
  return { shape, data };
}
