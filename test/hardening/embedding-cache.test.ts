// The entity-encodings cache of an evaluation's output folder (`entity_embeddings.<hash>.f32`,
// one per model evaluated there) no longer grows without bound: evaluateBiencoder keeps it within
// embeddingCacheMb (least recently used evicted first, the file in use kept), and
// cleanEmbeddingCache / `biofeg cache clean` remove it on request.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { register } from '../../src/cli/commands/cache.js';
import {
  cleanEmbeddingCache,
  DEFAULT_EMBEDDING_CACHE_MB,
  evaluateBiencoder,
  InputError,
  listEmbeddingCache,
  pruneEmbeddingCache,
} from '../../src/index.js';
import { defaultOf } from '../../src/settings/resolve.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';
import { runCli } from '../support/cli.js';
import { mulberry32 } from '../support/rng.js';

afterAll(cleanup);

const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid!;

/** `n` cache files of random sizes and hashes, used one minute apart (index 0 the oldest). */
function fakeCache(dir: string, n: number, seed: number): Array<{ path: string; bytes: number }> {
  const r = mulberry32(seed);
  const t0 = Date.now() / 1000 - 3600;
  return Array.from({ length: n }, (_, i) => {
    const hash = Array.from({ length: 16 }, () => Math.floor(r() * 16).toString(16)).join('');
    const bytes = 4096 + Math.floor(r() * 20_000);
    const path = join(dir, `entity_embeddings.${hash}.f32`);
    writeFileSync(path, Buffer.alloc(bytes));
    utimesSync(path, t0 + 60 * i, t0 + 60 * i);
    return { path, bytes };
  });
}

describe('pruneEmbeddingCache / cleanEmbeddingCache', () => {
  it('evicts least recently used first down to the cap, never a kept file, and nothing else', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const dir = tmp('biofeg-embcache-');
      const r = mulberry32(seed * 7);
      const files = fakeCache(dir, 1 + Math.floor(r() * 8), seed);
      writeFileSync(join(dir, 'eval_report.json'), '{}');
      writeFileSync(join(dir, 'entity_embeddings.notahash.f32'), 'not a cache file');
      const total = files.reduce((s, f) => s + f.bytes, 0);
      const maxBytes = Math.floor(r() * total);
      const keep = files[Math.floor(r() * files.length)]!.path;
      const res = pruneEmbeddingCache(dir, { maxBytes, keep: [keep] });
      // Expected: walk oldest to newest, skipping the kept one, until the rest fit.
      let left = total;
      const want: string[] = [];
      for (const f of files) {
        if (left <= maxBytes) break;
        if (f.path === keep) continue;
        want.push(f.path);
        left -= f.bytes;
      }
      expect(res.removed.map((e) => e.path)).toEqual(want);
      expect(res.keptBytes).toBe(left);
      expect(existsSync(keep)).toBe(true);
      expect(listEmbeddingCache(dir).map((e) => e.path)).toEqual(files.map((f) => f.path).filter((p) => !want.includes(p)));
      expect(existsSync(join(dir, 'eval_report.json')) && existsSync(join(dir, 'entity_embeddings.notahash.f32'))).toBe(true);
    }
  });

  it('clean removes every cache file and dead writers temporaries of them; a missing folder is an InputError', () => {
    const dir = tmp('biofeg-embcache-');
    fakeCache(dir, 3, 5);
    const dead = deadPid();
    const stale = `.entity_embeddings.00112233445566aa.f32.tmp-${dead}-0-2`;
    const live = `.entity_embeddings.00112233445566bb.f32.tmp-${process.pid}-0-3`;
    writeFileSync(join(dir, stale), 'partial');
    writeFileSync(join(dir, live), 'being written');
    const r = cleanEmbeddingCache(dir);
    expect(r.removed.length).toBe(3);
    expect(r.keptBytes).toBe(0);
    expect(readdirSync(dir)).toEqual([live]);
    expect(() => cleanEmbeddingCache(join(dir, 'nope'))).toThrow(InputError);
    expect(() => cleanEmbeddingCache(join(dir, 'nope'))).toThrow(/nope: not a folder \(expected the output folder of an evaluation\)/);
    expect(() => pruneEmbeddingCache(dir, { maxBytes: -1 })).toThrow(/maxBytes must be >= 0/);
  });

  it('biofeg cache clean: all, or down to --max_mb; cache list', async () => {
    const dir = tmp('biofeg-embcache-');
    const files = fakeCache(dir, 4, 9);
    const listed = await runCli(register, 'cache', ['list', '--output_path', dir]);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual(files.map((f) => f.path));
    const keepBytes = files[3]!.bytes + files[2]!.bytes;
    const r = await runCli(register, 'cache', ['clean', '--output_path', dir, '--max_mb', String(keepBytes / 2 ** 20)]);
    expect(r.stdout).toContain(`removed ${files[0]!.path}`);
    expect(r.stdout).toMatch(/^2 file\(s\), .* MiB freed; .* MiB kept$/m);
    expect(listEmbeddingCache(dir).map((e) => e.path)).toEqual([files[2]!.path, files[3]!.path]);
    await runCli(register, 'cache', ['clean', '--output_path', dir]);
    expect(listEmbeddingCache(dir)).toEqual([]);
    await expect(runCli(register, 'cache', ['clean', '--output_path', dir, '--max_mb', '-3'])).rejects.toThrow(/--max_mb/);
  });
});

describe('evaluateBiencoder keeps its output folder within embeddingCacheMb', () => {
  let data: Awaited<ReturnType<typeof smallDataset>>;
  beforeAll(async () => {
    data = await smallDataset({ train: 4, val: 4, test: 8 });
  }, 120_000);

  const evaluate = (out: string, seed: number, embeddingCacheMb?: number) =>
    evaluateBiencoder({
      dataPath: data.processed,
      outputPath: out,
      bertModel: 'tiny',
      encodeBatchSize: 128,
      evalBatchSize: 8,
      topK: 4,
      maxContextLength: 32,
      maxCandLength: 32,
      modes: ['test'],
      seed,
      device: 'cpu',
      ...(embeddingCacheMb !== undefined ? { embeddingCacheMb } : {}),
    });

  it('one file per model under the default cap; a cap of 0 leaves only the model in use', async () => {
    expect(defaultOf('evaluateBiencoder', 'embeddingCacheMb')).toBe(DEFAULT_EMBEDDING_CACHE_MB);
    const out = tmp('biofeg-embcache-eval-');
    mkdirSync(out, { recursive: true });
    await evaluate(out, 5);
    await evaluate(out, 6);
    const two = listEmbeddingCache(out);
    expect(two.length).toBe(2);
    // Reading a file counts as a use: the first model, evaluated again, becomes the newest.
    const past = Date.now() / 1000 - 600;
    for (const e of two) utimesSync(e.path, past, past);
    const firstFile = two[0]!.path;
    await evaluate(out, 5);
    expect(listEmbeddingCache(out).map((e) => e.path)).toEqual([two[1]!.path, firstFile]);
    await evaluate(out, 7, 0);
    const one = listEmbeddingCache(out);
    expect(one.length).toBe(1);
    expect(two.map((e) => e.path)).not.toContain(one[0]!.path);
    // The model in use is read from its file again, and stays.
    await evaluate(out, 7, 0);
    expect(listEmbeddingCache(out).map((e) => e.path)).toEqual([one[0]!.path]);
  }, 120_000);
});
