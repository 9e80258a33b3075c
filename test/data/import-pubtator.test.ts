import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { importPubtator, tokensWithCuts } from '../../src/data/import-pubtator.js';
import { prepare } from '../../src/data/prepare.js';
import { fixtures, sharedData, tempDir } from './helpers/tmp.js';

const P = join(fixtures, 'pubtator');
const corpora = { train: join(P, 'train.txt'), val: join(P, 'val.txt'), test: join(P, 'test.txt') };

function jsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('import-pubtator on hand-made snippets', () => {
  it('MEDIC: entities, re-spaced documents, token indices, and every policy counted', async () => {
    const out = tempDir();
    const r = await importPubtator({ ...corpora, dictionary: join(P, 'medic.txt'), outDir: out });
    expect(r.dictionary).toMatchObject({ format: 'medic', concepts: 9, altIds: 1, withDefinition: 0 });
    expect(r.total).toMatchObject({
      documents: 4,
      duplicateDocumentSkipped: 1,
      mentionsRead: 17,
      mentionsWritten: 12,
      noId: 1,
      compositeFirstKept: 2,
      idNotInDictionary: 2,
      altIdMapped: 1,
      offsetTextMismatchKept: 1,
      offsetsRealigned: 1,
      offsetMismatchSkipped: 1,
      emptySpanSkipped: 1,
    });
    expect(JSON.parse(readFileSync(join(out, 'import-report.json'), 'utf8')).total.mentionsWritten).toBe(12);
    const ents = jsonl(join(out, 'documents', 'all_documents.json'));
    expect(ents[2]).toEqual({ document_id: 'D010505', title: 'Familial Mediterranean Fever', text: 'FMF; Periodic Fever, Familial' });
    const docs = jsonl(join(out, 'documents', 'test.json'));
    // "Post-hypoxic" is cut where the mention "hypoxic" starts; "arrest." where a mention ends.
    expect(docs[0]!.text).toBe('Post- hypoxic myoclonus after cardiac arrest . Myoclonus responded to valproate.');
    const ms = jsonl(join(out, 'mentions', 'test.json'));
    expect(ms.map((m) => [m.start_index, m.end_index, m.text, m.label_document_id])).toEqual([
      [0, 2, 'Post- hypoxic myoclonus', 'D009207'],
      [1, 1, 'hypoxic', 'D000860'],
      [4, 5, 'cardiac arrest', 'D006323'],
      [7, 7, 'Myoclonus', 'D009207'], // offsets were 3 characters early: realigned
    ]);
    const train = jsonl(join(out, 'mentions', 'train.json'));
    // OMIM:249100 is an alternative id of D010505; A|B and A+B keep the first known id.
    expect(train.map((m) => m.label_document_id)).toEqual(['D001943', 'D001943', 'D010051', 'D010505', 'D010505', 'D010505', 'D000686']);
    expect(jsonl(join(out, 'mentions', 'val.json'))[0]).toMatchObject({ text: 'Seizures "plus"', start_index: 0, end_index: 1 });

    const rep = await prepare({ dataDir: out });
    expect(rep.splits.test.mentions).toBe(4);
    expect(rep.testUnseen).toBe(4); // no test concept occurs in train
  });

  it('CTD TSV, plain and gzipped: definitions become the entity text; --types filters', async () => {
    const d = tempDir();
    const gz = join(d, 'ctd.tsv.gz');
    writeFileSync(gz, gzipSync(readFileSync(join(P, 'ctd.tsv'))));
    for (const dictionary of [join(P, 'ctd.tsv'), gz]) {
      const out = tempDir();
      const r = await importPubtator({ ...corpora, dictionary, outDir: out, types: ['Disease'] });
      expect(r.dictionary).toMatchObject({ format: 'ctd', concepts: 8, withDefinition: 3 });
      expect(r.total.typeFiltered).toBe(1); // the Gene mention
      expect(r.total.idNotInDictionary).toBe(1);
      const ents = jsonl(join(out, 'documents', 'all_documents.json'));
      expect(ents[0]).toEqual({ document_id: 'D001943', title: 'Breast Neoplasms', text: 'Tumours of the breast.' });
      expect(ents[1]).toEqual({ document_id: 'D010051', title: 'Ovarian Neoplasms', text: 'Ovarian Cancer; Ovarian Tumours' });
    }
  });

  it('composite skip policy', async () => {
    const r = await importPubtator({ ...corpora, dictionary: join(P, 'medic.txt'), outDir: tempDir(), composite: 'skip' });
    expect(r.total.compositeSkipped).toBe(2);
    expect(r.total.compositeFirstKept).toBe(0);
  });

  it('token cuts: boundaries inside a token split it; whitespace runs collapse', () => {
    const t = 'ab-cd  ef';
    expect(tokensWithCuts(t, new Set([3])).tokens.map((x) => t.slice(x.start, x.end))).toEqual(['ab-', 'cd', 'ef']);
    expect(tokensWithCuts(t, new Set([0, 5, 9])).inserted).toBe(0);
  });

  it('bad PubTator lines and dictionaries give path:line errors; nothing is written', async () => {
    const d = tempDir();
    const bad = join(d, 'bad.txt');
    writeFileSync(bad, '9|t|Title\n9|a|Abstract\n9\t0\tfive\tTitle\tDisease\tD1\n');
    const out = join(d, 'out');
    await expect(importPubtator({ ...corpora, train: bad, dictionary: join(P, 'medic.txt'), outDir: out })).rejects.toThrow(
      /bad\.txt:3: expected integer character offsets/,
    );
    writeFileSync(bad, '9|t|Title\njust some words\n');
    await expect(importPubtator({ ...corpora, train: bad, dictionary: join(P, 'medic.txt'), outDir: out })).rejects.toThrow(
      /bad\.txt:2: expected "PMID\|t\|title"/,
    );
    const dict = join(d, 'dict.txt');
    writeFileSync(dict, 'D1||One\nD2 no separator\n');
    await expect(importPubtator({ ...corpora, dictionary: dict, outDir: out })).rejects.toThrow(/dict\.txt:2: expected a MEDIC line/);
    writeFileSync(bad, '');
    await expect(importPubtator({ ...corpora, val: bad, dictionary: join(P, 'medic.txt'), outDir: out })).rejects.toThrow(
      /bad\.txt: no PubTator documents/,
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(d).sort()).toEqual(['bad.txt', 'dict.txt']);
  });
});

const ncbi = join(sharedData, 'ncbi-disease');
const cdr = join(sharedData, 'bc5cdr');
const haveShared = existsSync(ncbi) && existsSync(cdr);
if (!haveShared) console.warn('skipped: ../shared/data/ncbi-disease or ../shared/data/bc5cdr absent');

describe.skipIf(!haveShared)('import-pubtator on the real shared corpora', () => {
  it('NCBI disease + MEDIC', async () => {
    const out = tempDir();
    const r = await importPubtator({
      train: join(ncbi, 'NCBItrainset_corpus.txt'),
      val: join(ncbi, 'NCBIdevelopset_corpus.txt'),
      test: join(ncbi, 'NCBItestset_corpus.txt'),
      dictionary: join(ncbi, 'medic_06Jul2012.txt'),
      outDir: out,
    });
    expect(r.dictionary.concepts).toBe(11915);
    expect(r.splits.train).toMatchObject({ documents: 592, duplicateDocumentSkipped: 1, mentionsWritten: 5134, offsetTextMismatchKept: 1 });
    expect(r.splits.val.mentionsWritten).toBe(787);
    expect(r.splits.test.mentionsWritten).toBe(960);
    expect(r.total).toMatchObject({
      noId: 0,
      idNotInDictionary: 0,
      offsetMismatchSkipped: 0,
      emptySpanSkipped: 0,
      compositeFirstKept: 160,
    });
    const p = await prepare({ dataDir: out });
    expect(p.testSeen + p.testUnseen).toBe(960);
    expect(p.testUnseen).toBe(167);
  });

  it('BC5CDR Disease + CTD (gz, definitions)', async () => {
    const out = tempDir();
    const r = await importPubtator({
      train: join(cdr, 'CDR_TrainingSet.PubTator.txt'),
      val: join(cdr, 'CDR_DevelopmentSet.PubTator.txt'),
      test: join(cdr, 'CDR_TestSet.PubTator.txt'),
      dictionary: join(cdr, 'CTD_diseases.tsv.gz'),
      outDir: out,
      types: ['Disease'],
    });
    expect(r.dictionary).toMatchObject({ format: 'ctd', concepts: 11865, withDefinition: 4691 });
    expect(r.total).toMatchObject({ documents: 1500, typeFiltered: 15935, noId: 109, mentionsWritten: 12741, idNotInDictionary: 0 });
    const p = await prepare({ dataDir: out });
    expect(p.splits.test.mentions).toBe(4363);
  });
});
