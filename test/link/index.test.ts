// The entity index: building from a JSONL KB or the arboEL documents (CLI and library), errors
// that name file:line, bf16 vectors, incremental add/remove that encode only new rows, and an
// update whose write fails (mid-vectors, or at the manifest) leaving the previous index intact.
import * as realFs from 'node:fs';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { register } from '../../src/cli/commands/index-cmd.js';
import { POOL_HEADER_BYTES } from '../../src/eval/entity-pool.js';
import {
  AbortError,
  buildIndex,
  CheckpointRejectedError,
  InputError,
  Linker,
  openIndex,
  OutputBusyError,
  SettingsError,
} from '../../src/index.js';
import { encodeStrings, readManifest, StringTable } from '../../src/link/index-file.js';
import { runUpdateIndex } from '../../src/link/index-build.js';
import { saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { lockOutput } from '../../src/stages/output-lock.js';
import { runCli } from '../support/cli.js';
import { cleanup, DEFAULT, TINY, tinyModel, tmp, VOCAB } from '../eval/retrieve-helpers.js';

// Write failure injection for the in-thread update: the Nth write to a file whose name matches.
const fault = vi.hoisted(() => ({ match: undefined as RegExp | undefined, after: 0, paths: new Map<number, string>() }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((path: realFs.PathLike, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    fault.paths.set(fd, String(path));
    return fd;
  }) as typeof fs.openSync;
  const writeSync = ((fd: number, ...rest: unknown[]) => {
    const p = fault.paths.get(fd) ?? '';
    if (fault.match?.test(p) && fault.after-- <= 0) {
      fault.match = undefined;
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    }
    return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  return { ...fs, openSync, writeSync, default: { ...fs, openSync, writeSync } };
});

const ctx = { emit: () => undefined, stop: { requested: false, checkpointIfRequested: async () => undefined } };
let ck: string;
let kb: string;
const model = tinyModel(7, { config: { ...TINY, pooler: true } });
const entities = [
  { id: 'D1', name: 'multiple sclerosis', description: 'a disease of the myelin of the brain and spinal cord' },
  { id: 'D2', name: 'asthma', synonyms: ['wheezing', 'bronchial asthma'] },
  { id: 'D3', name: 'gout', type: 'Disease' },
  { id: 'D4', name: 'type 2 diabetes', description: 'high blood sugar from insulin resistance' },
  { id: 'D5', name: 'migraine' },
];
const jsonl = (es: object[]) => es.map((e) => JSON.stringify(e)).join('\n') + '\n';

/** Vector rows of an index, as raw bytes per id. */
function rowsById(dir: string): Map<string, string> {
  const m = readManifest(dir);
  const bytes = readFileSync(join(dir, m.vectors)).subarray(POOL_HEADER_BYTES);
  const rb = m.dim * (m.dtype === 'bf16' ? 2 : 4);
  const idsArr = readIds(dir);
  return new Map(idsArr.map((id, i) => [id, bytes.subarray(i * rb, (i + 1) * rb).toString('hex')]));
}
function readIds(dir: string): string[] {
  const t = StringTable.read(join(dir, readManifest(dir).entities));
  return Array.from({ length: t.count }, (_, i) => t.id(i));
}

beforeAll(async () => {
  ck = join(tmp('biofeg-idx-ck-'), 'model');
  await saveBiEncoder(ck, model, {
    settings: { addLinear: false, outDim: 1 },
    vocabPath: VOCAB,
    torchBin: false,
    inference: { maxContextLength: 32, maxCandLength: 32 },
  });
  kb = join(tmp('biofeg-idx-kb-'), 'kb.jsonl');
  writeFileSync(kb, jsonl(entities));
});
afterAll(cleanup);

describe('biofeg index / buildIndex', () => {
  it('builds from a JSONL KB on the CLI: the manifest, the vectors header, ids and names', async () => {
    const out = join(tmp('biofeg-idx-'), 'idx');
    const { stderr } = await runCli(register, 'index', ['--model', ck, '--kb', kb, '--out', out, '--device', 'cpu', '--silent']);
    expect(stderr).toBe('');
    const m = readManifest(out);
    expect(m).toMatchObject({ count: 5, dim: 32, dtype: 'f32', generation: 1, maxCandLength: 32, vectors: 'vectors.1.bin' });
    expect(readIds(out)).toEqual(['D1', 'D2', 'D3', 'D4', 'D5']);
    const l = await Linker.load(ck, out, { device: 'cpu' });
    try {
      const [r] = await l.link(['gout'], { topK: 5 });
      expect(r!.map((c) => c.id).sort()).toEqual(['D1', 'D2', 'D3', 'D4', 'D5']);
      expect(r!.find((c) => c.id === 'D4')!.name).toBe('type 2 diabetes');
      for (let i = 1; i < 5; i++) expect(r![i - 1]!.score).toBeGreaterThanOrEqual(r![i]!.score);
    } finally {
      await l.close();
    }
  });

  it('builds a bf16 index from the arboEL documents: half the bytes, scores close to the f32 index', async () => {
    const docs = join(DEFAULT, 'documents', 'all_documents.json');
    const f = join(tmp('biofeg-idx-'), 'f32');
    const b = join(tmp('biofeg-idx-'), 'bf16');
    await buildIndex({ model: ck, kb: docs, out: f, device: 'cpu' });
    await buildIndex({ model: ck, kb: docs, out: b, device: 'cpu', dtype: 'bf16' });
    const mf = readManifest(f);
    const mb = readManifest(b);
    expect(mb).toMatchObject({ count: 439, dtype: 'bf16', modelHash: mf.modelHash });
    const size = (d: string, n: string) => realFs.statSync(join(d, n)).size - POOL_HEADER_BYTES;
    expect(size(b, mb.vectors) * 2).toBe(size(f, mf.vectors));
    const lf = await Linker.load(ck, f, { device: 'cpu' });
    const lb = await Linker.load(ck, b, { device: 'cpu' });
    try {
      expect(lb.info().dtype).toBe('bf16');
      const q = ['multiple sclerosis', 'asthma attack', 'heart valve'];
      const rf = await lf.link(q, { topK: 1 });
      const rb = await lb.link(q, { topK: 1 });
      rb.forEach((r, i) => expect(Math.abs(r[0]!.score - rf[i]![0]!.score)).toBeLessThan(0.05 * Math.abs(rf[i]![0]!.score) + 0.05));
    } finally {
      await lf.close();
      await lb.close();
    }
  });

  it('an abort stops the build between batches and writes nothing', async () => {
    const out = join(tmp('biofeg-idx-'), 'idx');
    const ac = new AbortController();
    let batches = 0;
    const e = await buildIndex({
      model: ck,
      kb: join(DEFAULT, 'documents', 'all_documents.json'),
      out,
      device: 'cpu',
      batchSize: 8,
      signal: ac.signal,
      onProgress: (ev) => {
        if (ev.type === 'progress' && ++batches === 1) ac.abort();
      },
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortError);
    expect(batches).toBeLessThan(55);
    expect(readdirSync(out)).toEqual([]);
  });

  it('names the file and line of a bad KB entry, and checks settings before any work', async () => {
    const bad = join(tmp('biofeg-idx-bad-'), 'kb.jsonl');
    const out = join(tmp('biofeg-idx-'), 'x');
    const cases: Array<[string, RegExp]> = [
      ['{"id":"A","name":"a"}\n{"id":"B"}\n', /kb\.jsonl:2: field "name" should be a string/],
      ['{"id":"A","name":"a"}\n\n{"id":"A","name":"b"}\n', /kb\.jsonl:3: id "A" is already the id of line 1/],
      ['{"id":"A","name":"a","synonyms":"x"}\n', /kb\.jsonl:1: field "synonyms" should be an array of strings/],
      ['{"id":"A","name":"a"}\n[1]\n', /kb\.jsonl:2: expected a JSON object/],
      ['{"document_id":"A","title":3,"text":""}\n', /kb\.jsonl:1: field "title" should be string, got number 3/],
      ['{"id":"A",\n', /kb\.jsonl:1:/],
    ];
    for (const [text, re] of cases) {
      writeFileSync(bad, text);
      const e = await buildIndex({ model: ck, kb: bad, out, device: 'cpu' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(re);
    }
    expect(realFs.existsSync(join(out, 'index.json'))).toBe(false);
    await expect(buildIndex({ model: ck, kb, out, dtype: 'f16' as 'f32' })).rejects.toBeInstanceOf(SettingsError);
    await expect(buildIndex({ model: ck, kb: join(out, 'nope.jsonl'), out })).rejects.toThrow(/kb .*nope\.jsonl: not found/);
    await expect(buildIndex({ model: ck, kb, out, batch: 3 } as never)).rejects.toThrow(/unknown setting "batch"/);
  });
});

describe('EntityIndex.add / remove', () => {
  it('encodes only the new rows, keeps the others byte for byte, and equals a fresh build', async () => {
    const dir = join(tmp('biofeg-idx-'), 'idx');
    await buildIndex({ model: ck, kb, out: dir, device: 'cpu', batchSize: 2 });
    const before = rowsById(dir);
    const index = await openIndex(dir);
    const events: string[] = [];
    const r = await index.add(
      [
        { id: 'N1', name: 'psoriasis', description: 'scaly skin plaques' },
        { id: 'N2', name: 'epilepsy' },
      ],
      { device: 'cpu', onProgress: (e) => e.type === 'progress' && events.push(`${e.done}/${e.total}`) },
    );
    expect(r).toMatchObject({ count: 7, added: 2, removed: 0, generation: 2 });
    expect(events.at(-1)).toBe('2/2'); // only the two new entities went through the encoder
    expect(index.info().count).toBe(7);
    const rm = await index.remove(['D2', 'D4']);
    expect(rm).toMatchObject({ count: 5, removed: 2, generation: 3 });
    expect(index.ids()).toEqual(['D1', 'D3', 'D5', 'N1', 'N2']);
    const after = rowsById(dir);
    for (const id of ['D1', 'D3', 'D5']) expect(after.get(id)).toBe(before.get(id));
    // Only the current generation's files are left.
    expect(readdirSync(dir).sort()).toEqual(['entities.3.bin', 'index.json', 'texts.3.bin', 'vectors.3.bin']);
    // The entity texts (what a reranking Linker reads) follow the rows: kept ones copied, new ones added.
    const texts = StringTable.read(join(dir, 'texts.3.bin'));
    const textOf = new Map(Array.from({ length: texts.count }, (_, i) => [texts.id(i), texts.name(i)] as const));
    expect([...textOf.keys()]).toEqual(['D1', 'D3', 'D5', 'N1', 'N2']);
    expect(textOf.get('N1')).toBe('scaly skin plaques');
    expect(textOf.get('N2')).toBe('');

    // A fresh build of the same KB gives the same vectors (up to float rounding of other batch shapes).
    const fresh = join(tmp('biofeg-idx-'), 'fresh');
    const kb2 = join(tmp('biofeg-idx-kb2-'), 'kb.jsonl');
    writeFileSync(
      kb2,
      jsonl([
        entities[0]!,
        entities[2]!,
        entities[4]!,
        { id: 'N1', name: 'psoriasis', description: 'scaly skin plaques' },
        { id: 'N2', name: 'epilepsy' },
      ]),
    );
    await buildIndex({ model: ck, kb: kb2, out: fresh, device: 'cpu' });
    const la = await Linker.load(ck, dir, { device: 'cpu' });
    const lb = await Linker.load(ck, fresh, { device: 'cpu' });
    try {
      const q = ['skin', 'seizures', 'sclerosis'];
      const ra = await la.link(q, { topK: 5 });
      const rb = await lb.link(q, { topK: 5 });
      expect(ra.map((x) => x.map((c) => c.id))).toEqual(rb.map((x) => x.map((c) => c.id)));
      ra.forEach((x, i) => x.forEach((c, j) => expect(c.score).toBeCloseTo(rb[i]![j]!.score, 4)));
    } finally {
      await la.close();
      await lb.close();
    }
  });

  it('refuses duplicate or unknown ids, and a model other than the index was built with', async () => {
    const dir = join(tmp('biofeg-idx-'), 'idx');
    await buildIndex({ model: ck, kb, out: dir, device: 'cpu' });
    const index = await openIndex(dir);
    await expect(index.add([{ id: 'D1', name: 'again' }], { device: 'cpu' })).rejects.toThrow(
      /\(entities\):1: id "D1" is already in the index/,
    );
    await expect(index.remove(['D9'])).rejects.toThrow(/\(remove\):1: id "D9" is not in the index/);
    await expect(index.add([{ id: 'X', name: 3 } as never], { device: 'cpu' })).rejects.toThrow(
      /\(entities\):1: field "name" should be a string/,
    );
    const other = join(tmp('biofeg-idx-other-'), 'model');
    await saveBiEncoder(other, tinyModel(8, { config: { ...TINY, pooler: true } }), {
      settings: { addLinear: false, outDim: 1 },
      vocabPath: VOCAB,
      torchBin: false,
      inference: { maxContextLength: 32, maxCandLength: 32 },
    });
    const e = await index.add([{ id: 'X', name: 'x' }], { device: 'cpu', model: other }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointRejectedError);
    expect((e as Error).message).toMatch(/not the one the index .* was built with/);
    expect(readManifest(dir).generation).toBe(1);

    // One writer per index folder: while another holds it, an update is refused naming the holder.
    const release = lockOutput(dir, 'another update');
    try {
      const busy = await index.add([{ id: 'P1', name: 'p' }], { device: 'cpu' }).catch((x: unknown) => x);
      expect(busy).toBeInstanceOf(OutputBusyError);
      expect((busy as Error).message).toMatch(/in use by another update/);
    } finally {
      release();
    }
    expect(await index.add([{ id: 'P1', name: 'p' }], { device: 'cpu' })).toMatchObject({ generation: 2, count: 6 });
  });

  it('a texts file missing or of another length than the entities is refused naming it, before any write', async () => {
    const dir = join(tmp('biofeg-idx-'), 'idx');
    await buildIndex({ model: ck, kb, out: dir, device: 'cpu' });
    const m = readManifest(dir);
    const textsPath = join(dir, m.texts!);
    const saved = readFileSync(textsPath);
    // Four texts for five entities.
    const short = StringTable.read(textsPath);
    const ids = Array.from({ length: 4 }, (_, i) => short.id(i));
    writeFileSync(
      textsPath,
      Buffer.concat(
        encodeStrings(
          ids,
          ids.map((_, i) => short.name(i)),
        ),
      ),
    );
    const index = await openIndex(dir);
    const e = await index.remove(['D1']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointRejectedError);
    expect((e as Error).message).toBe(`${textsPath}: 4 texts for the 5 entities of ${m.entities}`);
    expect(readManifest(dir).generation).toBe(1);
    // Missing: the manifest names it, so the index is at fault (not a raw ENOENT).
    realFs.rmSync(textsPath);
    expect(() => readManifest(dir)).toThrow(CheckpointRejectedError);
    expect(() => readManifest(dir)).toThrow(`${join(dir, 'index.json')}: ${m.texts}: missing (the manifest's "texts")`);
    writeFileSync(textsPath, saved);
    expect(readManifest(dir).texts).toBe(m.texts);
  });

  it('a write that fails mid-update (in the vectors, or at the manifest) leaves the previous index intact', async () => {
    const dir = join(tmp('biofeg-idx-'), 'idx');
    await buildIndex({ model: ck, kb, out: dir, device: 'cpu', batchSize: 2 });
    const manifest = readFileSync(join(dir, 'index.json'), 'utf8');
    const files = readdirSync(dir).sort();
    const rows = rowsById(dir);
    const add = [
      { id: 'N1', name: 'psoriasis' },
      { id: 'N2', name: 'epilepsy' },
      { id: 'N3', name: 'lupus' },
    ];

    // 1. The third write to the new vectors file fails (after its header and some rows).
    fault.match = /vectors\.2\.bin/;
    fault.after = 2;
    await expect(runUpdateIndex({ index: dir, add, remove: ['D3'], device: 'cpu', batchSize: 1 }, ctx)).rejects.toThrow(/EIO/);
    expect(fault.match).toBeUndefined(); // the fault did fire
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe(manifest);
    expect(readdirSync(dir).sort()).toEqual(files); // temporaries removed
    expect(rowsById(dir)).toEqual(rows);

    // 2. The data files are complete but writing the new manifest fails: still the old index.
    fault.match = /index\.json/;
    fault.after = 0;
    await expect(runUpdateIndex({ index: dir, add, device: 'cpu' }, ctx)).rejects.toThrow(/EIO/);
    expect(fault.match).toBeUndefined();
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe(manifest);
    expect(rowsById(dir)).toEqual(rows);
    const l = await Linker.load(ck, dir, { device: 'cpu' });
    try {
      expect(l.info().entities).toBe(5);
    } finally {
      await l.close();
    }

    // The next update succeeds and clears what the failed ones left.
    const r = await runUpdateIndex({ index: dir, add, device: 'cpu' }, ctx);
    expect(r).toMatchObject({ count: 8, generation: 2 });
    expect(readdirSync(dir).sort()).toEqual(['entities.2.bin', 'index.json', 'texts.2.bin', 'vectors.2.bin']);
  });
});
