import { existsSync, readFileSync, readdirSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { candidateRepresentation, contextRepresentation } from '../../src/data/blink-inputs.js';
import { buildTokenCache, ensureTokenCache } from '../../src/data/cache-build.js';
import { rowWidth, tokenizeRows, type RowSettings } from '../../src/data/cache-rows.js';
import { isBlank, readLines } from '../../src/data/lines.js';
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
    const { cache, rebuilt, reason } = await ensureTokenCache({
      kind: 'mentions',
      source: src,
      cachePath: src + '.cache',
      tokenizer: tok,
      maxContextLength: 16,
    });
    expect(rebuilt).toBe(true);
    expect(reason).toBe('no cache yet');
    expect(cache.rows).toBe(5);
    expect(cache.width).toBe(17);
    const recs = readFileSync(src, 'utf8')
      .split('\n')
      .map((l) => JSON.parse(l) as { mention: string; context_left: string; context_right: string; label_id: number });
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
    const { cache } = await ensureTokenCache({
      kind: 'entities',
      source: join(fixtures, 'arboel-small/documents/all_documents.json'),
      cachePath: join(d, 'ent.cache'),
      tokenizer: tok,
      maxCandLength: 12,
    });
    expect(cache.rows).toBe(6);
    expect(Array.from(cache.row(5))).toEqual(
      Array.from(candidateRepresentation(tok, 'Persistently raised arterial blood pressure.', 12, 'Hypertension').ids),
    );
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
    const one = await buildTokenCache({
      kind: 'mentions',
      source: src,
      cachePath: src + '.1',
      tokenizer: toyTokenizer(),
      maxContextLength: 16,
      workers: 0,
    });
    const two = await buildTokenCache({
      kind: 'mentions',
      source: src,
      cachePath: src + '.2',
      tokenizer: toyTokenizer(),
      factory,
      maxContextLength: 16,
      workers: 2,
      chunkBytes: 300,
    });
    expect(two.rows).toBe(one.rows);
    expect(readFileSync(src + '.2').equals(readFileSync(src + '.1'))).toBe(true);
  });

  // Rows as the line-by-line reader makes them (readLines + tokenizeRows, one line at a time).
  async function lineByLine(kind: 'mentions' | 'entities', src: string, len: number): Promise<Buffer> {
    const s: RowSettings = { kind, maxContextLength: kind === 'mentions' ? len : 0, maxCandLength: kind === 'entities' ? len : 0 };
    const parts: Buffer[] = [];
    for await (const l of readLines(src)) {
      if (isBlank(l.text)) continue;
      const { data } = tokenizeRows(toyTokenizer(), s, [l.text], [l.line], src);
      parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    const out = Buffer.concat(parts);
    expect(out.length % (4 * rowWidth(s))).toBe(0);
    return out;
  }

  // BOM, CRLF, blank and whitespace-only lines, a BOM inside a later line, no final line end.
  function awkwardEntities(): string {
    const lines = readFileSync(join(fixtures, 'arboel-small/documents/all_documents.json'), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const long = JSON.stringify({ document_id: 'LONG', title: 'Long one', text: 'asthma pain '.repeat(200) });
    const body = ['\ufeff' + lines[0], '', lines[1], '  \t', '\ufeff' + lines[2], long, ...lines.slice(3), lines[0]].join('\r\n');
    const src = join(tempDir(), 'all_documents.json');
    writeFileSync(src, '\ufeff' + body);
    return src;
  }

  it.each([
    ['one thread', 0, 1 << 20],
    ['one thread, tiny chunks', 0, 7],
    ['two workers, tiny chunks', 2, 7],
    ['two workers, chunks of a few lines', 2, 400],
  ])('entity cache (%s) equals the line-by-line rows, awkward lines included', async (_name, workers, chunkBytes) => {
    const src = awkwardEntities();
    const want = await lineByLine('entities', src, 12);
    const h = await buildTokenCache({
      kind: 'entities',
      source: src,
      cachePath: src + '.c',
      tokenizer: toyTokenizer(),
      factory,
      maxCandLength: 12,
      workers,
      chunkBytes,
    });
    expect(h.rows).toBe(want.length / (4 * 12));
    expect(h.rows).toBe(8);
    expect(
      readFileSync(src + '.c')
        .subarray(HEADER_BYTES)
        .equals(want),
    ).toBe(true);
  });

  it('two workers write the same entity cache bytes as one thread (header included)', async () => {
    const src = awkwardEntities();
    await buildTokenCache({
      kind: 'entities',
      source: src,
      cachePath: src + '.1',
      tokenizer: toyTokenizer(),
      maxCandLength: 12,
      workers: 0,
    });
    await buildTokenCache({
      kind: 'entities',
      source: src,
      cachePath: src + '.2',
      tokenizer: toyTokenizer(),
      factory,
      maxCandLength: 12,
      workers: 2,
      chunkBytes: 200,
    });
    expect(readFileSync(src + '.2').equals(readFileSync(src + '.1'))).toBe(true);
  });

  it('mention cache from chunks equals the line-by-line rows', async () => {
    const src = prepared();
    const want = await lineByLine('mentions', src, 16);
    for (const [workers, chunkBytes] of [
      [0, 1],
      [2, 1],
      [2, 500],
    ] as const) {
      await buildTokenCache({
        kind: 'mentions',
        source: src,
        cachePath: src + '.c',
        tokenizer: toyTokenizer(),
        factory,
        maxContextLength: 16,
        workers,
        chunkBytes,
      });
      expect(
        readFileSync(src + '.c')
          .subarray(HEADER_BYTES)
          .equals(want),
      ).toBe(true);
    }
  });

  it('invalid UTF-8 and bad JSON are reported at their own line whatever the chunking', async () => {
    const d = tempDir();
    const src = join(d, 'all_documents.json');
    const good = '{"title": "Asthma", "text": "airways"}\n';
    writeFileSync(
      src,
      Buffer.concat([Buffer.from(good.repeat(3) + '\n'), Buffer.from('{"title": "bad \xff"}\n', 'latin1'), Buffer.from(good)]),
    );
    for (const [workers, chunkBytes] of [
      [0, 1 << 20],
      [0, 50],
      [2, 50],
    ] as const) {
      await expect(
        buildTokenCache({
          kind: 'entities',
          source: src,
          cachePath: join(d, 'c'),
          tokenizer: toyTokenizer(),
          factory,
          workers,
          chunkBytes,
        }),
      ).rejects.toThrow(/all_documents\.json:5: invalid UTF-8/);
    }
    writeFileSync(src, good.repeat(6) + '{"title": \n');
    for (const [workers, chunkBytes] of [
      [0, 1 << 20],
      [2, 30],
    ] as const) {
      await expect(
        buildTokenCache({
          kind: 'entities',
          source: src,
          cachePath: join(d, 'c'),
          tokenizer: toyTokenizer(),
          factory,
          workers,
          chunkBytes,
        }),
      ).rejects.toThrow(/all_documents\.json:7: invalid JSON/);
    }
    expect(readdirSync(d)).toEqual(['all_documents.json']);
  });

  it('a bad source line fails with path:line and leaves no cache file (workers too)', async () => {
    const d = tempDir();
    const src = join(d, 'train.jsonl');
    writeFileSync(src, readFileSync(join(fixtures, 'arboel-small-expected', 'train.jsonl'), 'utf8') + '\n{"mention": 3}');
    await expect(
      buildTokenCache({ kind: 'mentions', source: src, cachePath: join(d, 'c'), tokenizer: toyTokenizer(), maxContextLength: 16 }),
    ).rejects.toThrow(/train\.jsonl:6: field "mention" should be a string/);
    await expect(
      buildTokenCache({
        kind: 'mentions',
        source: src,
        cachePath: join(d, 'c'),
        tokenizer: toyTokenizer(),
        factory,
        workers: 2,
        chunkBytes: 1,
        maxContextLength: 16,
      }),
    ).rejects.toThrow(/train\.jsonl:6:/);
    expect(readdirSync(d)).toEqual(['train.jsonl']);
    expect(existsSync(join(d, 'c'))).toBe(false);
  });
});
