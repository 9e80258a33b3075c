// A GAN checkpoint's description ('biofeg'.meta) is JSON from the file: any field of any type.
// Reading it and checking it against a bi-encoder ends in success or a CheckpointError naming the
// file, never a TypeError from deep inside (it was `meta.biencoder.hash.slice is not a function`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { torchDict, writeTorchSave } from '../../src/checkpoint/index.js';
import { checkGanCompatible, readGanFile } from '../../src/train/gan-checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'biofeg-ganmeta-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const W = { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) };
const validMeta = () => ({
  format: 'biofeg-gan',
  version: 2,
  dims: { featDim: 128, condDim: 128, noiseDim: 128, hiddenDim: 128 },
  encoder: { config: { hidden_size: 128 }, pooler: false, addLinear: false, outDim: 1 },
  biencoder: { hash: `sha256:${'a'.repeat(64)}`, embedDim: 128, hiddenSize: 128 },
});

function ganFile(name: string, meta: unknown): string {
  const path = join(dir, name);
  const sd = () => torchDict([['fc1.weight', W]], 'OrderedDict');
  writeTorchSave(
    path,
    torchDict([
      ['generator', sd()],
      ['discriminator', sd()],
      ['entity_embedding', sd()],
      ['biofeg', torchDict([['meta', JSON.stringify(meta)]])],
    ]),
  );
  return path;
}

const anyJson = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.string({ maxLength: 8 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);
const FIELDS = [
  ['biencoder', 'hash'],
  ['biencoder', 'hiddenSize'],
  ['biencoder', 'embedDim'],
  ['biencoder'],
  ['dims', 'featDim'],
  ['dims'],
  ['encoder'],
] as const;

describe('GAN checkpoint descriptions of any shape', () => {
  it('the reported case: a numeric bi-encoder hash is a CheckpointError naming the file', () => {
    const meta = validMeta();
    (meta.biencoder as { hash: unknown }).hash = 12345;
    const path = ganFile('numeric-hash', meta);
    expect(() => readGanFile(path)).toThrow(
      expect.objectContaining({ code: 'ERR_BIOFEG_CHECKPOINT', message: expect.stringContaining(`${path}: `) }),
    );
  });

  it('any value in any field: success, or a CheckpointError naming the file', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), anyJson, (field, value) => {
        const meta = validMeta() as Record<string, unknown>;
        if (field.length === 1) meta[field[0]] = value;
        else (meta[field[0]] as Record<string, unknown>)[field[1]] = value;
        const path = ganFile(`case-${n++}`, meta);
        try {
          const f = readGanFile(path);
          checkGanCompatible(path, f.meta, { biencoder: { hash: `sha256:${'b'.repeat(64)}`, embedDim: 128 } });
        } catch (e) {
          expect((e as { code?: string }).code, String(e)).toBe('ERR_BIOFEG_CHECKPOINT');
          expect((e as Error).message.startsWith(`${path}: `), String(e)).toBe(true);
          return;
        }
        throw new Error(`accepted a mismatched bi-encoder with ${JSON.stringify(meta)}`);
      }),
      { seed: 16, numRuns: 300 },
    );
  });
});
