// A KB's names -> SapBERT's pairs: every format read (KB JSONL, arboEL documents, MEDIC, CTD .gz),
// the pairing rules (combinations of distinct lower-cased names, at most 50 a concept, concepts
// with one name skipped and counted, names shared across concepts counted and kept), bad input
// as `path:line`, and the counts on the real MEDIC and CTD vocabularies when ../shared has them.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

import { InputError } from '../../src/errors.js';
import { readKbNames } from '../../src/data/kb-names.js';
import { synonymPairs } from '../../src/data/synonym-pairs.js';

const dir = mkdtempSync(join(tmpdir(), 'biofeg-synpairs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string | Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('KB names', () => {
  it('reads KB JSONL, keeps the file order of the names and pairs every two distinct names of a concept', async () => {
    const kb = file(
      'kb.jsonl',
      jsonl([
        { id: 'C1', name: 'Asthma', synonyms: ['bronchial asthma', 'ASTHMA', ' asthmatic disease '], type: 'Disease' },
        { id: 'C2', name: 'Migraine', description: 'a headache' },
        { id: 'C3', name: 'cold', synonyms: ['common cold', 'coryza'] },
        { id: 'C4', name: 'Cold', synonyms: ['low temperature'] },
      ]) + '\n',
    );
    const k = await readKbNames(kb);
    expect(k.format).toBe('kb-jsonl');
    expect(k.concepts.map((c) => c.names.length)).toEqual([4, 1, 3, 2]);
    const p = synonymPairs(k.concepts);
    const pairText = (i: number) => `${p.texts[p.left[i]!]}|${p.texts[p.right[i]!]}`;
    expect(Array.from({ length: p.stats.pairs }, (_, i) => pairText(i))).toEqual([
      'asthma|bronchial asthma',
      'asthma|asthmatic disease',
      'bronchial asthma|asthmatic disease',
      'cold|common cold',
      'cold|coryza',
      'common cold|coryza',
      'cold|low temperature',
    ]);
    expect(Array.from(p.label)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    expect(p.conceptIds).toEqual(['C1', 'C3', 'C4']);
    expect(p.stats).toMatchObject({
      concepts: 4,
      conceptsWithPairs: 3,
      skippedNoSynonym: 1, // C2: one name
      repeatedWithinConcept: 1, // ASTHMA
      sharedNames: 1, // "cold" is C3's and C4's: kept in both
      sampledConcepts: 0,
      pairs: 7,
    });
    expect(p.skippedExamples[0]).toBe(`${kb}:2: C2 has one name`);
    // Cased: "ASTHMA" is a name of its own.
    expect(synonymPairs(k.concepts, { lowercase: false }).stats.pairs).toBe(6 + 3 + 1);
  });

  it('cuts a concept with more than 50 pairs to a seeded sample of 50 distinct ones', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `name ${i}`); // 66 pairs
    const p = synonymPairs([{ id: 'X', names, where: 'x' }], { seed: 3 });
    expect(p.stats.pairs).toBe(50);
    expect(p.stats.sampledConcepts).toBe(1);
    const keys = new Set(Array.from({ length: 50 }, (_, i) => `${p.left[i]}-${p.right[i]}`));
    expect(keys.size).toBe(50);
    for (let i = 0; i < 50; i++) expect(p.left[i]!).toBeLessThan(p.right[i]!);
    expect(synonymPairs([{ id: 'X', names, where: 'x' }], { seed: 3 }).left).toEqual(p.left);
    expect(synonymPairs([{ id: 'X', names, where: 'x' }], { seed: 4 }).left).not.toEqual(p.left);
  });

  it('reads MEDIC, CTD (gzip) and the arboEL documents (one name a concept)', async () => {
    const medic = file('medic.txt', 'D001|OMIM:1||Asthma|Bronchial Asthma\nD002||Migraine\n');
    const m = await readKbNames(medic);
    expect(m.format).toBe('medic');
    expect(m.concepts.map((c) => [c.id, c.names])).toEqual([
      ['D001', ['Asthma', 'Bronchial Asthma']],
      ['D002', ['Migraine']],
    ]);
    const ctd = file(
      'ctd.tsv.gz',
      gzipSync('# comment\nAsthma\tMESH:D001\t\tA disease.\t\t\t\tBronchial Asthma|Asthmas\t\nMigraine\tMESH:D002\t\t\t\t\t\t\t\n'),
    );
    const c = await readKbNames(ctd);
    expect(c.format).toBe('ctd');
    expect(synonymPairs(c.concepts).stats).toMatchObject({ concepts: 2, pairs: 3, skippedNoSynonym: 1 });
    const docs = file('all_documents.json', jsonl([{ document_id: 'E1', title: 'Asthma', text: 'A disease.' }]));
    const d = await readKbNames(docs);
    expect(d.format).toBe('arboel');
    expect(synonymPairs(d.concepts).stats).toMatchObject({ concepts: 1, pairs: 0, skippedNoSynonym: 1 });
  });

  const bad: Array<[string, string | Uint8Array, string]> = [
    ['invalid JSON', '{"id":"A","name":"a"}\n\n{"id": \n', ':3: invalid JSON'],
    ['synonyms not strings', '{"id":"A","name":"a","synonyms":["b",1]}\n', ':1: field "synonyms" should be an array of strings'],
    ['no id', '{"id":"A","name":"a"}\n{"name":"b"}\n', ':2: field "id" should be a non-empty string'],
    ['a repeated id', '{"id":"A","name":"a"}\n{"id":"A","name":"b"}\n', ':2: id "A" is already the id of line 1'],
    ['not an object', '{"id":"A","name":"a"}\n[1]\n', ':2: expected a JSON object'],
    ['a MEDIC line without ||', 'D1||Asthma\nD2|Migraine\n', ':2: expected a MEDIC line'],
    [
      'non-UTF-8 bytes',
      Buffer.concat([Buffer.from('{"id":"A","name":"a"}\n{"id":"B","name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]),
      ':2: invalid UTF-8',
    ],
    ['an empty file', '\n\n', ': empty'],
  ];
  for (const [what, text, message] of bad)
    it(`reports ${what} with the file and line`, async () => {
      const p = file(`bad-${what.replace(/\W+/g, '-')}.jsonl`, text);
      const e = await readKbNames(p).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toContain(`${p}${message}`);
    });
});

const shared = resolve(import.meta.dirname, '../../../shared/data');
const medicPath = join(shared, 'ncbi-disease/medic_06Jul2012.txt');
const ctdPath = join(shared, 'bc5cdr/CTD_diseases.tsv.gz');
const haveShared = existsSync(medicPath) && existsSync(ctdPath);
if (!haveShared) console.warn(`synonym pairs on MEDIC and CTD skipped: ${shared} is absent (the shared real data)`);

describe.skipIf(!haveShared)('synonym pairs of the real vocabularies (../shared)', () => {
  // The concepts (and MEDIC's names, repeats within a concept included) as ../shared/data/README.md counts them.
  for (const [name, path, concepts, names] of [
    ['MEDIC 2012', medicPath, 11915, 76237],
    ['CTD diseases 2017', ctdPath, 11865, undefined],
  ] as const)
    it(`${name}: every concept read, the pairs SapBERT's rules give`, async () => {
      const k = await readKbNames(path);
      const p = synonymPairs(k.concepts);
      const st = p.stats;
      console.log(`${name}: ${JSON.stringify(st)}`);
      expect(st.concepts).toBe(concepts);
      if (names !== undefined) expect(st.names + st.repeatedWithinConcept).toBe(names);
      expect(st.conceptsWithPairs + st.skippedNoSynonym).toBe(concepts);
      expect(st.skippedNoSynonym).toBeGreaterThan(0);
      expect(st.conceptsWithPairs).toBeGreaterThan(concepts / 4);
      expect(st.sampledConcepts).toBeGreaterThan(0);
      expect(st.pairs).toBeLessThanOrEqual(50 * st.conceptsWithPairs);
      expect(st.pairs).toBeGreaterThanOrEqual(st.conceptsWithPairs);
      expect(new Set(p.label).size).toBe(st.conceptsWithPairs);
      // Each pair: two different names of its own concept.
      for (let i = 0; i < st.pairs; i += 97) expect(p.left[i]).not.toBe(p.right[i]);
    });
});
