import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepare } from '../../src/data/prepare.js';
import { readJsonl } from '../../src/data/lines.js';
import { copyFixture, fixtures, listAll, tempDir } from './helpers/tmp.js';

/** A copy of arboel-small with one file's content replaced or edited. */
function variant(file: string, edit: (text: string) => string | Buffer): string {
  const d = copyFixture('arboel-small');
  const p = join(d, file);
  writeFileSync(p, edit(readFileSync(p, 'utf8')));
  return d;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

function replaceLine(n: number, by: string) {
  return (t: string) => {
    const ls = lines(t);
    ls[n - 1] = by;
    return ls.join('\n') + '\n';
  };
}

async function failure(dataDir: string): Promise<string> {
  const out = join(dataDir, 'processed');
  try {
    await prepare({ dataDir, outDir: out });
  } catch (e) {
    // A failed run leaves no output folder behind (it did not exist before).
    expect(existsSync(out)).toBe(false);
    return (e as Error).message;
  }
  throw new Error('prepare did not fail');
}

const M = (o: Record<string, unknown>) =>
  JSON.stringify({
    mention_id: 'mx',
    context_document_id: 'P100',
    label_document_id: 'D001',
    start_index: 0,
    end_index: 0,
    text: 'Asthma',
    category: 'T047',
    ...o,
  });

describe('prepare: bad input gives path:line: what was expected', () => {
  it('empty entity file', async () => {
    const d = variant('documents/all_documents.json', () => '');
    expect(await failure(d)).toMatch(/all_documents\.json: empty file: expected one entity a line/);
  });

  it('empty mentions file: a counted warning and an empty split, like the original', async () => {
    const d = variant('mentions/val.json', () => '');
    const r = await prepare({ dataDir: d });
    expect(r.warnings.counts['empty-mentions-file']).toBe(1);
    expect(readFileSync(join(d, 'processed', 'val.jsonl'), 'utf8')).toBe('');
  });

  it('missing file', async () => {
    const d = copyFixture('arboel-small');
    const { rmSync } = await import('node:fs');
    rmSync(join(d, 'mentions', 'test.json'));
    expect(await failure(d)).toMatch(/mentions\/test\.json: file not found/);
  });

  it('invalid JSON', async () => {
    const d = variant('mentions/train.json', replaceLine(2, '{"mention_id": "m2", '));
    expect(await failure(d)).toMatch(/mentions\/train\.json:2: invalid JSON .*expected one JSON object a line/);
  });

  it('a line that is JSON but not an object', async () => {
    const d = variant('documents/all_documents.json', replaceLine(3, '[1, 2]'));
    expect(await failure(d)).toMatch(/all_documents\.json:3: expected a JSON object/);
  });

  it('missing field', async () => {
    const d = variant(
      'mentions/test.json',
      replaceLine(
        3,
        JSON.stringify({
          mention_id: 'x3',
          context_document_id: 'P301',
          label_document_id: 'D005',
          end_index: 2,
          text: 'pain score',
          category: 'T184',
        }),
      ),
    );
    expect(await failure(d)).toMatch(/mentions\/test\.json:3: missing field "start_index" \(expected integer\)/);
  });

  it('mistyped fields', async () => {
    let d = variant('mentions/train.json', replaceLine(1, M({ start_index: '0' })));
    expect(await failure(d)).toMatch(/mentions\/train\.json:1: field "start_index" should be integer, got string "0"/);
    d = variant('mentions/train.json', replaceLine(1, M({ end_index: 0.5 })));
    expect(await failure(d)).toMatch(/train\.json:1: field "end_index" should be integer, got the number 0\.5/);
    d = variant('documents/all_documents.json', replaceLine(2, '{"document_id": "D002", "title": null, "text": "x"}'));
    expect(await failure(d)).toMatch(/all_documents\.json:2: field "title" should be string, got null/);
  });

  it('offsets out of range', async () => {
    let d = variant(
      'mentions/train.json',
      replaceLine(5, M({ context_document_id: 'P102', start_index: 4, end_index: 5, text: 'hypertension' })),
    );
    expect(await failure(d)).toMatch(
      /train\.json:5: start_index 4 \/ end_index 5 out of range; expected 0 <= start_index <= end_index < 5/,
    );
    d = variant('mentions/train.json', replaceLine(1, M({ start_index: -1 })));
    expect(await failure(d)).toMatch(/train\.json:1: start_index -1/);
    d = variant('mentions/train.json', replaceLine(1, M({ start_index: 2, end_index: 1 })));
    expect(await failure(d)).toMatch(/train\.json:1: start_index 2 \/ end_index 1 out of range/);
  });

  it('a span that does not match the mention text', async () => {
    const d = variant('mentions/val.json', replaceLine(2, M({ mention_id: 'v2', start_index: 5, end_index: 5, text: 'Asthma' })));
    expect(await failure(d)).toMatch(
      /val\.json:2: tokens 5\.\.5 of context document "P100" read "asthma"; expected the mention text "Asthma"/,
    );
  });

  it('unknown label_document_id and context_document_id', async () => {
    let d = variant('mentions/test.json', replaceLine(4, M({ mention_id: 'x4', label_document_id: 'D999' })));
    expect(await failure(d)).toMatch(/test\.json:4: label_document_id "D999" not found; expected an id of .*all_documents\.json/);
    d = variant('mentions/test.json', replaceLine(1, M({ mention_id: 'x1', context_document_id: 'P999' })));
    expect(await failure(d)).toMatch(/test\.json:1: context_document_id "P999" not found/);
  });

  it('duplicated ids: entities, context documents (also against entities), mentions', async () => {
    let d = variant('documents/all_documents.json', (t) => t + '{"document_id": "D002", "title": "x", "text": "y"}\n');
    expect(await failure(d)).toMatch(/all_documents\.json:7: duplicate document_id "D002" \(first at .*all_documents\.json:2\)/);
    d = variant('documents/val.json', (t) => t + '{"document_id": "P100", "title": "x", "text": "y"}\n');
    expect(await failure(d)).toMatch(/documents\/val\.json:2: duplicate document_id "P100" \(first at .*documents\/train\.json:1\)/);
    d = variant('documents/val.json', (t) => t + '{"document_id": "D001", "title": "x", "text": "y"}\n');
    expect(await failure(d)).toMatch(/documents\/val\.json:2: document_id "D001" is also an entity/);
    d = variant('mentions/test.json', replaceLine(2, M({ mention_id: 'm3' })));
    expect(await failure(d)).toMatch(/test\.json:2: duplicate mention_id "m3" \(first at .*train\.json:3\)/);
  });

  it('non-UTF-8 bytes', async () => {
    const d = variant('documents/train.json', (t) => {
      const ls = lines(t);
      return Buffer.concat([
        Buffer.from(ls[0] + '\n' + ls[1]!.slice(0, 40)),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(ls[1]!.slice(40) + '\n' + ls[2] + '\n'),
      ]);
    });
    expect(await failure(d)).toMatch(/documents\/train\.json:2: invalid UTF-8 near byte \d+ of the line \(expected UTF-8 text\)/);
  });

  it('CRLF line ends give the same output as LF', async () => {
    const d = copyFixture('arboel-small');
    for (const f of ['documents/all_documents.json', 'documents/train.json', 'mentions/train.json', 'mentions/test.json']) {
      const p = join(d, f);
      writeFileSync(p, readFileSync(p, 'utf8').replace(/\r?\n/g, '\r\n'));
    }
    await prepare({ dataDir: d });
    for (const f of ['train.jsonl', 'test.jsonl', 'test_unseen.jsonl']) {
      expect(readFileSync(join(d, 'processed', f)).equals(readFileSync(join(fixtures, 'arboel-small-expected', f))), f).toBe(true);
    }
  });

  it('blank lines are skipped; a UTF-8 BOM is skipped', async () => {
    const d = copyFixture('arboel-small');
    appendFileSync(join(d, 'mentions', 'train.json'), '\n   \n');
    const p = join(d, 'documents', 'all_documents.json');
    writeFileSync(p, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(p)]));
    await prepare({ dataDir: d });
    expect(
      readFileSync(join(d, 'processed', 'train.jsonl')).equals(readFileSync(join(fixtures, 'arboel-small-expected', 'train.jsonl'))),
    ).toBe(true);
  });

  it('skipInvalid: bad mentions are skipped and counted instead', async () => {
    const d = variant('mentions/test.json', (t) => {
      const ls = lines(t);
      ls[1] = M({ mention_id: 'x2', text: 'wrong' });
      ls[2] = '{not json';
      return ls.join('\n') + '\n';
    });
    const r = await prepare({ dataDir: d, skipInvalid: true });
    expect(r.splits.test).toMatchObject({ mentions: 3, skipped: 2 });
    expect(r.warnings.counts['skipped-mention']).toBe(2);
    expect(r.warnings.examples[0]).toMatch(/test\.json:2: /);
  });
});

describe('prepare: a failed run leaves no partial output', () => {
  it('an existing output folder keeps exactly its old files (no temporaries, no new files)', async () => {
    const d = variant('mentions/test.json', replaceLine(5, M({ mention_id: 'x5', text: 'nope' })));
    const out = tempDir();
    writeFileSync(join(out, 'keep.txt'), 'old');
    writeFileSync(join(out, 'train.jsonl'), 'previous run');
    const before = listAll(out);
    await expect(prepare({ dataDir: d, outDir: out })).rejects.toThrow(/test\.json:5:/);
    expect(listAll(out)).toEqual(before);
    expect(readFileSync(join(out, 'train.jsonl'), 'utf8')).toBe('previous run');
  });

  it('a new nested output folder is removed again', async () => {
    const d = variant('mentions/val.json', replaceLine(1, '{'));
    const base = tempDir();
    await expect(prepare({ dataDir: d, outDir: join(base, 'a', 'b') })).rejects.toThrow(/val\.json:1:/);
    expect(readdirSync(base)).toEqual([]);
  });
});

describe('readJsonl', () => {
  it('streams values and reports path:line on bad JSON', async () => {
    const d = tempDir();
    const p = join(d, 'x.jsonl');
    writeFileSync(p, '{"a": 1}\r\n\n[2]\n{oops}\n');
    const got: unknown[] = [];
    await expect(
      (async () => {
        for await (const v of readJsonl(p)) got.push(v);
      })(),
    ).rejects.toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: invalid JSON`));
    expect(got).toEqual([{ a: 1 }, [2]]);
  });
});
