// A .topk candidate file's checks before (and while) the cross-encoder reads it: its token caches
// must come from the cross-encoder's tokenizer and hold ids of its vocabulary, a corrupt file is an
// InputError naming it, and no failed open leaves a file descriptor behind. Hand-made caches and
// files: no bi-encoder run.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { encodeHeader, type CacheHeader } from '../../src/data/token-cache.js';
import { encodeCandidateFile, type CandidateFile } from '../../src/eval/candidates.js';
import { InputError } from '../../src/errors.js';
import { trainCrossencoder } from '../../src/index.js';
import { modelTokenizer } from '../../src/stages/setup.js';
import { openTopk } from '../../src/train/cross-data.js';
import { cleanup, tmp } from '../eval/retrieve-helpers.js';

afterAll(cleanup);

const CTX = 4;
const CAND = 3;
const K = 2;

function writeCache(path: string, kind: 'mentions' | 'entities', hash: string, rows: number[][]): void {
  const width = rows[0]!.length;
  const h: CacheHeader = {
    kind,
    tokenizerHash: hash,
    maxContextLength: kind === 'mentions' ? CTX : 0,
    maxCandLength: kind === 'entities' ? CAND : 0,
    width,
    rows: rows.length,
    source: { path: 'none', size: 0, mtimeMs: 0 },
    overflows: 0,
  };
  const body = Buffer.from(Int32Array.from(rows.flat()).buffer);
  writeFileSync(path, Buffer.concat([encodeHeader(h), body]));
}

/** A folder with a mention cache (3 rows), an entity cache (4 rows) and `<stem>.topk` over them. */
function makeTopk(dir: string, o: { hash: string; entityIds?: number[][]; stem?: string }): string {
  const mc = join(dir, 'mentions.cache');
  const ec = join(dir, 'entities.cache');
  // Context ids then the label id (an entity index, not a token: never range-checked as one).
  writeCache(mc, 'mentions', o.hash, [
    [101, 7, 8, 102, 3],
    [101, 9, 102, 0, 2],
    [101, 10, 11, 102, 150_000],
  ]);
  writeCache(
    ec,
    'entities',
    o.hash,
    o.entityIds ?? [
      [101, 20, 102],
      [101, 21, 102],
      [101, 22, 102],
      [101, 23, 102],
    ],
  );
  const file: CandidateFile = {
    header: {
      format: 'biofeg-topk',
      version: 1,
      mode: 'train',
      topK: K,
      count: 3,
      totalMentions: 3,
      missingGold: 'drop',
      dropped: 0,
      inserted: 0,
      featureDim: 0,
      source: { mentionCache: mc, entityCache: ec },
    },
    rows: {
      mention: Int32Array.from([0, 1, 2]),
      gold: Int32Array.from([3, 2, 1]),
      goldPos: Int32Array.from([0, 1, 0]),
      candidates: Int32Array.from([3, 0, 1, 2, 1, 3]),
    },
  };
  const path = join(dir, `${o.stem ?? 'train'}.topk`);
  writeFileSync(path, encodeCandidateFile(file));
  return path;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('openTopk: tokenizer, ids and corrupt files', () => {
  it('refuses caches made with another tokenizer than the cross-encoder', () => {
    const dir = tmp('biofeg-topk-hash-');
    const path = makeTopk(dir, { hash: 'a'.repeat(64) });
    const before = openFds();
    const e = thrown(() => openTopk(path, { tokenizerHash: 'b'.repeat(64), vocabSize: 200 }));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(
      new RegExp(`^${path}: .*mentions\\.cache was tokenized with tokenizer a{16}…, the cross-encoder's is b{16}…`),
    );
    expect(openFds()).toBe(before);
    // The same hash opens, and reads the rows it names.
    const s = openTopk(path, { tokenizerHash: 'a'.repeat(64), vocabSize: 200 });
    const { contexts, candidates } = s.read([1]);
    expect(Array.from(contexts)).toEqual([101, 9, 102, 0]);
    expect(Array.from(candidates)).toEqual([101, 21, 102, 101, 22, 102]);
    s.close();
    expect(openFds()).toBe(before);
  });

  it('range-checks the token ids it reads against the vocabulary', () => {
    const dir = tmp('biofeg-topk-ids-');
    const ids = [
      [101, 20, 102],
      [101, 21, 102],
      [101, 9999, 102],
      [101, 23, 102],
    ];
    const path = makeTopk(dir, { hash: 'a'.repeat(64), entityIds: ids });
    const s = openTopk(path, { vocabSize: 200 });
    // Row 0's candidates (entities 3, 0) are in range; row 1's include entity 2.
    expect(() => s.read([0])).not.toThrow();
    const e = thrown(() => s.read([1]));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`${join(dir, 'entities.cache')}: row 2: token id 9999 is outside the vocabulary (0..199)`);
    // A mention row's trailing label id is an entity index, not a token: row 2's is past the vocabulary.
    expect(Array.from(s.read([2]).contexts)).toEqual([101, 10, 11, 102]);
    // A context id outside the vocabulary names the mention cache.
    const t = openTopk(path, { vocabSize: 102 });
    expect(() => t.read([0])).toThrow(
      new RegExp(`^${join(dir, 'mentions.cache')}: row 0: token id 102 is outside the vocabulary \\(0\\.\\.101\\)$`),
    );
    s.close();
    t.close();
  });

  it('a truncated or corrupt .topk is an InputError naming the file', () => {
    const dir = tmp('biofeg-topk-bad-');
    const path = makeTopk(dir, { hash: 'a'.repeat(64) });
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, full.length - 4));
    const e = thrown(() => openTopk(path));
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).path).toBe(path);
    expect((e as Error).message).toMatch(new RegExp(`^${path}: expected \\d+ bytes for 3 rows of top-2, found \\d+`));
    writeFileSync(path, 'not a candidate file at all');
    expect(thrown(() => openTopk(path))).toBeInstanceOf(InputError);
  });

  it('a corrupt entity cache closes the mention cache it had opened', () => {
    const dir = tmp('biofeg-topk-fd-');
    const path = makeTopk(dir, { hash: 'a'.repeat(64) });
    writeFileSync(join(dir, 'entities.cache'), 'garbage');
    const before = openFds();
    const e = thrown(() => openTopk(path));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(/entities\.cache: not a biofeg token cache/);
    expect(openFds()).toBe(before);
  });
});

describe('trainCrossencoder: candidate files checked before training', () => {
  const hash = modelTokenizer(undefined, undefined).tokenizer.hash;

  it('caches of another tokenizer are refused with nothing trained', async () => {
    const dir = tmp('biofeg-cross-hash-');
    makeTopk(dir, { hash: 'c'.repeat(64) });
    makeTopk(dir, { hash: 'c'.repeat(64), stem: 'val' });
    await expect(trainCrossencoder({ dataPath: dir, outputPath: join(dir, 'out'), bertModel: 'tiny', device: 'cpu' })).rejects.toThrow(
      /was tokenized with tokenizer c{16}…, the cross-encoder's is/,
    );
  });

  it('a corrupt val file is an InputError and leaves no descriptor of train open', async () => {
    const dir = tmp('biofeg-cross-val-');
    makeTopk(dir, { hash });
    writeFileSync(join(dir, 'val.topk'), 'BFTOPK01 truncated');
    const out = join(dir, 'out');
    const run = () => trainCrossencoder({ dataPath: dir, outputPath: out, bertModel: 'tiny', device: 'cpu' });
    await expect(run()).rejects.toBeInstanceOf(InputError); // warms up lazily opened handles
    const before = openFds();
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).path).toBe(join(dir, 'val.topk'));
    expect(openFds()).toBe(before);
  });
});
