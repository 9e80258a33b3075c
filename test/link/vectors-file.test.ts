// Index vectors loaded without per-row work: Tensor.mapFile (host: the file memory-mapped
// copy-on-write) and Tensor.readFile (one read into a tensor of the stored dtype), their argument
// checks, and loadIndexVectors' choice between them and the converting path.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { POOL_HEADER_BYTES } from '../../src/eval/entity-pool.js';
import { ArgumentError } from '../../src/errors.js';
import { loadIndexVectors, toBf16 } from '../../src/link/index-file.js';
import { mappedTensor, tensor } from '../../src/native.js';
import { cleanup, tmp } from '../eval/retrieve-helpers.js';

afterAll(cleanup);

const rows = 5;
const dim = 6;
// Values exact in bf16, so f32 and bf16 files hold the same numbers.
const values = Float32Array.from({ length: rows * dim }, (_, i) => (i % 2 ? -1 : 1) * (i + 1) * 0.25);
const dir = tmp('biofeg-vectors-');

function vectorsFile(name: string, head: number, dtype: 'f32' | 'bf16'): string {
  const body = dtype === 'bf16' ? Buffer.from(toBf16(values).buffer) : Buffer.from(values.buffer);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([Buffer.alloc(head, 0x20), body]));
  return path;
}

describe('Tensor.mapFile', () => {
  it('maps bf16 and f32 values as stored, at a page-aligned offset or not', () => {
    for (const [dtype, head] of [
      ['bf16', POOL_HEADER_BYTES],
      ['f32', POOL_HEADER_BYTES],
      ['bf16', 64],
      ['f32', 4096 + 192],
    ] as const) {
      const t = mappedTensor(vectorsFile(`v-${dtype}-${head}.bin`, head, dtype), head, dtype, [rows, dim]);
      expect(t, 'this addon has no Tensor.mapFile (a stale build?)').toBeDefined();
      expect(t!.dtype).toBe(dtype);
      expect(t!.shape).toEqual([rows, dim]);
      expect(t!.device).toBe('cpu');
      expect(Array.from(t!.download())).toEqual(Array.from(values));
      // Views of a mapped tensor read the rows they cover.
      const v = t!.view(2 * dim, [1, dim]);
      expect(Array.from(v.download())).toEqual(Array.from(values.subarray(2 * dim, 3 * dim)));
      v.dispose();
      t!.dispose();
    }
  });

  it('is copy-on-write: writing the tensor leaves the file as it was', () => {
    const path = vectorsFile('cow.bin', POOL_HEADER_BYTES, 'bf16');
    const before = readFileSync(path);
    const t = mappedTensor(path, POOL_HEADER_BYTES, 'bf16', [rows, dim])!;
    t.upload(new Float32Array(rows * dim).fill(7));
    expect(Array.from(t.download())).toEqual(new Array(rows * dim).fill(7));
    expect(readFileSync(path).equals(before)).toBe(true);
    t.dispose();
  });

  it('keeps the values it mapped when the file is replaced or removed (how index updates write)', () => {
    const path = vectorsFile('replaced.bin', POOL_HEADER_BYTES, 'f32');
    const t = mappedTensor(path, POOL_HEADER_BYTES, 'f32', [rows, dim])!;
    const other = join(dir, 'replacement.bin');
    writeFileSync(other, Buffer.alloc(POOL_HEADER_BYTES + values.byteLength, 0x11));
    renameSync(other, path); // write-then-rename, as AtomicOutputs does
    expect(Array.from(t.download())).toEqual(Array.from(values));
    rmSync(path);
    expect(Array.from(t.download())).toEqual(Array.from(values));
    t.dispose();
  });

  it('refuses a missing or short file, an unaligned offset and malformed arguments with ArgumentError', () => {
    const path = vectorsFile('short.bin', POOL_HEADER_BYTES, 'f32');
    const bad = (f: () => unknown, msg: RegExp) => {
      expect(f).toThrow(ArgumentError);
      expect(f).toThrow(msg);
    };
    bad(() => mappedTensor(join(dir, 'nope.bin'), 0, 'f32', [1]), /nope\.bin: No such file/);
    bad(() => mappedTensor(path, POOL_HEADER_BYTES, 'f32', [rows + 1, dim]), /holds \d+ bytes; f32\[6,6\] needs 144 from offset 4096/);
    bad(() => mappedTensor(path, 4100, 'f32', [1]), /multiple of 64 bytes/);
    bad(() => mappedTensor(path, -64, 'f32', [1]), /offset must be a non-negative integer/);
    bad(() => mappedTensor(path, 0, 'f16' as 'f32', [1]), /dtype must be/);
    bad(() => mappedTensor(dir, 0, 'f32', [1]), /not a regular file/);
    bad(() => mappedTensor('', 0, 'f32', [1]), /expected a file path/);
  });
});

describe('Tensor.readFile', () => {
  it('reads the stored values into a tensor of their dtype', () => {
    for (const dtype of ['bf16', 'f32'] as const) {
      const t = tensor('cpu', dtype, [rows, dim]);
      expect(t.readFile, 'this addon has no Tensor.readFile (a stale build?)').toBeDefined();
      t.readFile!(vectorsFile(`r-${dtype}.bin`, 100, dtype), 100);
      expect(Array.from(t.download())).toEqual(Array.from(values));
      t.dispose();
    }
  });

  it('refuses a short or missing file and malformed arguments with ArgumentError, before any read', () => {
    const path = vectorsFile('r-short.bin', 0, 'f32');
    const t = tensor('cpu', 'f32', [rows, dim]);
    t.upload(new Float32Array(rows * dim).fill(3));
    const bad = (f: () => unknown, msg: RegExp) => {
      expect(f).toThrow(ArgumentError);
      expect(f).toThrow(msg);
    };
    bad(() => t.readFile!(path, 4), /holds 120 bytes; f32\[5,6\]@cpu needs 120 from offset 4/);
    bad(() => t.readFile!(join(dir, 'nope.bin'), 0), /No such file/);
    bad(() => t.readFile!(path, 1.5), /offset must be a non-negative integer/);
    bad(() => (t.readFile as (...a: unknown[]) => void)(7, 0), /expected \(path: string, offset: number\)/);
    expect(Array.from(t.download())).toEqual(new Array(rows * dim).fill(3));
    t.dispose();
    expect(() => t.readFile!(path, 0)).toThrow(/has been disposed/);
  });
});

describe('loadIndexVectors', () => {
  it('maps a host pool of the stored dtype and converts a bf16 file into an f32 pool', () => {
    const path = vectorsFile('idx.bin', POOL_HEADER_BYTES, 'bf16');
    const m = { count: rows, dim, dtype: 'bf16' as const };
    const same = loadIndexVectors(path, m, 'cpu', 'bf16');
    const wide = loadIndexVectors(path, m, 'cpu', 'f32');
    expect([same.dtype, wide.dtype]).toEqual(['bf16', 'f32']);
    expect(Array.from(same.download())).toEqual(Array.from(values));
    expect(Array.from(wide.download())).toEqual(Array.from(values));
    same.dispose();
    wide.dispose();
  });
});
