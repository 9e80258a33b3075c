import { existsSync, readFileSync, readdirSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { candidateRepresentation, contextRepresentation } from '../../src/data/blink-inputs.js';
import { buildTokenCache, ensureTokenCache } from '../../src/data/cache-build.js';
import { HEADER_BYTES, TokenCache } from '../../src/data/token-cache.js';
import { toyTokenizer } from './helpers/tiny-wordpiece.js';
import { fixtures, repoRoot, tempDir } from './helpers/tmp.js';
import { cpSync } from 'node:fs';

const factory = { module: join(repoRoot, 'test/data/helpers/tiny-wordpiece.ts'), export: 'toyTokenizer', args: [] };

function prepared(): string {
  const d = tempDir();
  cpSync(join(fixtures, 'arboel-small-expected', 'train.jsonl'), join(d, 'train.jsonl'));
  return join(d, 'train.jsonl');
}

describe('token cache', () => {
  it('mention rows are the BLINK context ids then the label id; random access by row', async () => {
    const src = prepared();
    const tok = toyTokenizer();
    const { cache, rebuilt, reason } = await ensureTokenCache({ kind: 'mentions', source: src, cachePath: src + '.cache', tokenizer: tok, maxContextLength: 16 });
    expect(rebuilt).toBe(true);
    expect(reason).toBe('no cache yet');
    expect(cache.rows).toBe(5);
    expect(cache.width).toBe(17);
    const recs = readFileSync(src, 'utf8').split('\n').map((l) => JSON.parse(l) as { mention: string; context_left: string; context_right: string; label_id: number });
    const rows = cache.readRows([4, 0, 1]);
    [4, 0, 1].forEach((r, k) => {
      const want = contextRepresentation(tok, recs[r]!.mention, recs[r]!.context_left, recs[r]!.context_right, 16).ids;
      const row = rows.subarray(k * 17, (k + 1) * 17);
      const { ids, labelId } = TokenCache.mentionRow(row, 17);
      expect(Array.from(ids)).toEqual(Array.from(want));
      expect(labelId).toBe(recs[r]!.label_id);
    });
    expect(readFileSync(src + '.cache').length).toBe(HEADER_BYTES + 5 * 17 * 4);
    cache.close();
  });

  it('entity rows are candidate ids of title + stripped text, row i = entity line i', async () => {
    const tok = toyTokenizer();
    const d = tempDir();
    const { cache } = await ensureTokenCache({ kind: 'entities', source: join(fixtures, 'arboel-small/documents/all_documents.json'), cachePath: join(d, 'ent.cache'), tokenizer: tok, maxCandLength: 12 });
    expect(cache.rows).toBe(6);
    expect(Array.from(cache.row(5))).toEqual(Array.from(candidateRepresentation(tok, 'Persistently raised arterial blood pressure.', 12, 'Hypertension').ids));
    cache.close();
  });

  it('is reused only with the same tokenizer, lengths and source; otherwise rebuilt with a reason', async () => {
    const src = prepared();
    const cachePath = src + '.cache';
    const base = { kind: 'mentions' as const, source: src, cachePath, maxContextLength: 16 };
    (await ensureTokenCache({ ...base, tokenizer: toyTokenizer() })).cache.close();
    let r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer() });
    expect(r.rebuilt).toBe(false);
    r.cache.close();

    r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer('other vocab') });
    expect(r.rebuilt).toBe(true);
    expect(r.reason).toMatch(/made with another tokenizer/);
    expect(r.cache.header.tokenizerHash).toBe(toyTokenizer('other vocab').hash);
    r.cache.close();

    r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer('other vocab'), maxContextLength: 32 });
    expect(r.reason).toMatch(/max_context_length 16 != 32/);
    expect(r.cache.width).toBe(33);
    r.cache.close();

    utimesSync(src, new Date(), new Date(Date.now() + 5000));
    r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer('other vocab'), maxContextLength: 32 });
    expect(r.reason).toMatch(/changed since the cache was made/);
    r.cache.close();

    truncateSync(cachePath, HEADER_BYTES + 10);
    r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer('other vocab'), maxContextLength: 32 });
    expect(r.reason).toMatch(/truncated/);
    r.cache.close();

    writeFileSync(cachePath, 'garbage');
    r = await ensureTokenCache({ ...base, tokenizer: toyTokenizer('other vocab'), maxContextLength: 32 });
    expect(r.reason).toMatch(/bad magic/);
    expect(r.cache.rows).toBe(5);
    r.cache.close();
  });

  it('two worker threads write the same bytes as one thread', async () => {
    const src = prepared();
    const one = await buildTokenCache({ kind: 'mentions', source: src, cachePath: src + '.1', tokenizer: toyTokenizer(), maxContextLength: 16, workers: 0 });
    const two = await buildTokenCache({ kind: 'mentions', source: src, cachePath: src + '.2', tokenizer: toyTokenizer(), factory, maxContextLength: 16, workers: 2, batchLines: 2 });
    expect(two.rows).toBe(one.rows);
    expect(readFileSync(src + '.2').equals(readFileSync(src + '.1'))).toBe(true);
  });

  it('a bad source line fails with path:line and leaves no cache file (workers too)', async () => {
    const d = tempDir();
    const src = join(d, 'train.jsonl');
    writeFileSync(src, readFileSync(join(fixtures, 'arboel-small-expected', 'train.jsonl'), 'utf8') + '\n{"mention": 3}');
    await expect(buildTokenCache({ kind: 'mentions', source: src, cachePath: join(d, 'c'), tokenizer: toyTokenizer(), maxContextLength: 16 })).rejects.toThrow(/train\.jsonl:6: field "mention" should be a string/);
    await expect(buildTokenCache({ kind: 'mentions', source: src, cachePath: join(d, 'c'), tokenizer: toyTokenizer(), factory, workers: 2, batchLines: 1, maxContextLength: 16 })).rejects.toThrow(/train\.jsonl:6:/);
    expect(readdirSync(d)).toEqual(['train.jsonl']);
    expect(existsSync(join(d, 'c'))).toBe(false);
  });
});
