// `biofeg pretrain-synonyms` end to end on a small KB written from the built-in dataset's concepts
// (their names, synonyms and abbreviations): the loss falls, the output folder is an HF BERT
// folder the bi-encoder starts from, a run continued with --resume ends where an uninterrupted
// one does, an import-pubtator folder leads to its dictionary, and bad input is refused naming it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { allConcepts } from '../../data/default/src/concepts.js';
import { loadHfFolder } from '../../src/checkpoint/hf-folder.js';
import { register } from '../../src/cli/commands/pretrain-synonyms.js';
import { readKbNames } from '../../src/data/kb-names.js';
import { pretrainSynonyms } from '../../src/index.js';
import { openModel } from '../../src/stages/setup.js';
import { runCli } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'biofeg-pretrain-syn-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 48 concepts with their names; the ones without synonym or abbreviation are skipped by the stage.
const concepts = allConcepts().slice(0, 48);
const kb = join(work, 'kb.jsonl');
writeFileSync(
  kb,
  concepts.map((c) => JSON.stringify({ id: c.id, name: c.name, synonyms: [...c.synonyms, ...c.abbreviations], type: c.type })).join('\n') +
    '\n',
);
const withSynonyms = concepts.filter((c) => c.synonyms.length + c.abbreviations.length > 0).length;

const args = (out: string, epochs: number, extra: string[] = []) => [
  '--kb',
  kb,
  '--output_path',
  out,
  '--bert_model',
  'tiny',
  '--dropout',
  '0',
  '--train_batch_size',
  '16',
  '--epoch',
  String(epochs),
  '--learning_rate',
  '1e-3',
  '--max_length',
  '16',
  '--device',
  'cpu',
  '--seed',
  '5',
  '--silent',
  ...extra,
];

type LogLine = { event: string; [k: string]: unknown };
const logOf = (out: string): LogLine[] =>
  readFileSync(join(out, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine);

describe('pretrain-synonyms', () => {
  const out = join(work, 'run');

  it('trains a BERT on the pairs and the loss falls', async () => {
    await runCli(register, 'pretrain-synonyms', args(out, 4));
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'epoch_3/optimizer.safetensors'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const log = logOf(out);
    const data = log.find((l) => l.event === 'data')!;
    expect(data).toMatchObject({ format: 'kb-jsonl', concepts: 48, conceptsWithPairs: withSynonyms, skippedNoSynonym: 48 - withSynonyms });
    expect(withSynonyms).toBeGreaterThan(20);
    const epochs = log.filter((l) => l.event === 'epoch').map((l) => l['loss'] as number);
    expect(epochs).toHaveLength(4);
    expect(epochs[3]!).toBeLessThan(0.8 * epochs[0]!);
    expect(log.filter((l) => l.event === 'step').length).toBeGreaterThanOrEqual(4);
  });

  it('writes an HF BERT folder that train-biencoder --bert_model starts from', () => {
    const hf = loadHfFolder(out);
    expect(hf.report.missing).toEqual([]);
    const { model, tok } = openModel(
      {
        bertModel: out,
        seed: 1,
        addLinear: false,
        outDim: 1,
        precision: 'f32',
        pathToModel: undefined,
        vocab: undefined,
        dropout: undefined,
      },
      'cpu',
    );
    expect(tok.vocabPath).toBe(join(out, 'vocab.txt'));
    // Both encoders hold the pretrained weights.
    for (const side of [model.context, model.candidate]) {
      const w = side.bert.exportWeights();
      for (const name of ['embeddings.word_embeddings.weight', 'encoder.layer.1.output.dense.weight'])
        expect(w.get(name)!.data).toEqual(hf.tensors.get(name)!.data);
    }
  });

  it('a run continued with --resume ends with the weights of the uninterrupted run', async () => {
    const outB = join(work, 'resumed');
    await runCli(register, 'pretrain-synonyms', args(outB, 2));
    await runCli(register, 'pretrain-synonyms', args(outB, 4, ['--resume']));
    expect(logOf(outB).some((l) => l.event === 'resume')).toBe(true);
    const a = loadHfFolder(out).tensors,
      b = loadHfFolder(outB).tensors;
    for (const [name, t] of a) expect(b.get(name)!.data, name).toEqual(t.data);
  });

  it('--data_path: the dictionary an import-pubtator folder names; a built-in size needs nothing else', async () => {
    const imported = join(work, 'imported');
    mkdirSync(join(imported, 'processed'), { recursive: true });
    writeFileSync(join(imported, 'import-report.json'), JSON.stringify({ dictionary: { path: kb } }));
    const r = await pretrainSynonyms({
      dataPath: join(imported, 'processed'),
      outputPath: join(work, 'from-import'),
      bertModel: 'tiny',
      epochs: 1,
      trainBatchSize: 64,
      device: 'cpu',
    });
    expect(r.kb).toBe(kb);
    expect(r.stats.conceptsWithPairs).toBe(withSynonyms);
    expect(r.steps).toBe(Math.ceil(r.stats.pairs / 64));
  });

  it('reads a KB JSONL with # comment lines anywhere, as a dictionary', async () => {
    const commented = join(work, 'commented.jsonl');
    writeFileSync(commented, `# a comment first\n${readFileSync(kb, 'utf8').replace('\n', '\n# and one inside\n')}`);
    expect((await readKbNames(commented)).concepts.length).toBe((await readKbNames(kb)).concepts.length);
  });

  it('refuses bad input, naming it', async () => {
    const o = join(work, 'bad');
    const docs = join(work, 'all_documents.json');
    writeFileSync(docs, `${JSON.stringify({ document_id: 'E1', title: 'asthma', text: 'a disease' })}\n`);
    const badLine = join(work, 'bad.jsonl');
    writeFileSync(badLine, '{"id":"A","name":"a","synonyms":["b"]}\n{"id":"B","name":"c","synonyms":"d"}\n');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ kb: join(work, 'missing.jsonl') }, /kb \(--kb\) .*missing\.jsonl: no such file/],
      [{ kb, dataPath: work }, /not both/],
      [{}, /kb \(--kb\) or dataPath \(--data_path\) is required/],
      [{ kb: docs }, /all_documents\.json: the arboEL documents hold one name a concept/],
      [{ kb: badLine }, /bad\.jsonl:2: field "synonyms" should be an array of strings/],
      [{ kb, bertModel: join(work, 'nowhere') }, /neither a built-in size/],
      [{ kb, maxLength: 100000 }, /maxLength \(--max_length\) 100000 exceeds the BERT's \d+ positions/],
    ];
    for (const [over, message] of cases)
      await expect(pretrainSynonyms({ outputPath: o, bertModel: 'tiny', device: 'cpu', ...over })).rejects.toThrow(message);
  });
});
