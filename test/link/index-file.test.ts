// The index's vector file is an entity-pool file whose values may be bf16: loading one widens the
// bf16 bits exactly (into an f32 or a bf16 tensor, any chunking, odd sizes), and the string table
// gives back ids and names (UTF-8 included).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { encodePoolHeader, loadPoolFile, readPoolHeader } from '../../src/eval/entity-pool.js';
import { encodeStrings, StringTable, toBf16, vectorBytes } from '../../src/link/index-file.js';
import { tensor } from '../../src/native.js';
import { cleanup, tmp } from '../eval/retrieve-helpers.js';
import { randn } from '../support/rng.js';

afterAll(cleanup);

/** bf16 bits back to f32 values. */
const widen = (h: Uint16Array): Float32Array => new Float32Array(new Uint32Array(Array.from(h, (b) => b << 16)).buffer);

describe('index vectors and strings', () => {
  it.each([
    [7, 5, 3],
    [16, 8, 16],
    [33, 6, 4],
  ])('a %i x %i bf16 file loads exactly (chunks of %i rows), into f32 and bf16 tensors', (rows, dim, chunk) => {
    const v = randn(rows * dim, rows + dim, 2);
    const path = join(tmp('biofeg-vec-'), 'v.bin');
    writeFileSync(
      path,
      Buffer.concat([
        encodePoolHeader({ format: 'biofeg-entity-embeddings', hash: 'h', rows, dim, dtype: 'bf16' }),
        vectorBytes(v, 'bf16'),
      ]),
    );
    expect(readPoolHeader(path)).toMatchObject({ rows, dim, dtype: 'bf16' });
    const want = widen(toBf16(v));
    expect(want).not.toEqual(v); // the rounding is visible, so an f32 read would fail below
    for (const dt of ['f32', 'bf16'] as const) {
      const t = tensor('cpu', dt, [rows, dim]);
      loadPoolFile(path, t, chunk, undefined, 'bf16');
      expect(t.download()).toEqual(want);
      t.dispose();
    }
    // A truncated file is not a pool file.
    writeFileSync(path, readFileSync(path).subarray(0, -2));
    expect(readPoolHeader(path)).toBeNull();
  });

  it('toBf16 rounds to nearest even and keeps NaN a NaN', () => {
    const f = new Float32Array(new Uint32Array([0x3f808000, 0x3f818000, 0x3f808001, 0x7fc00001, 0xff800000]).buffer);
    expect(Array.from(toBf16(f), (x) => x.toString(16))).toEqual(['3f80', '3f82', '3f81', '7fc0', 'ff80']);
  });

  it('the string table gives back ids and names', () => {
    const ids = ['D1', 'MESH:D003924', 'é-ü', ''];
    const names = ['multiple sclerosis', 'type 2 diabetes', 'Ménière’s disease', '糖尿病'];
    const path = join(tmp('biofeg-str-'), 's.bin');
    writeFileSync(path, Buffer.concat(encodeStrings(ids, names)));
    const t = StringTable.read(path);
    expect(t.count).toBe(4);
    expect(Array.from({ length: 4 }, (_, i) => [t.id(i), t.name(i)])).toEqual(ids.map((id, i) => [id, names[i]]));
    expect([...t.ids()]).toEqual(ids.map((id, i) => [id, i]));
    writeFileSync(path, readFileSync(path).subarray(0, 20));
    expect(() => StringTable.read(path)).toThrow(/truncated or not an entity string table/);
  });
});
