// `biofeg encode`: rows of the .npy equal single-sequence Bert.forward outputs (texts, ids with
// and without masks, truncation, a bi-encoder side), input errors name path:line, a failed run
// leaves nothing behind, and the .npy header follows format 1.0.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { saveHfFolder } from '../src/checkpoint/hf-folder.js';
import { register } from '../src/cli/commands/encode.js';
import { encodeFile as runEncode, type EncodeFileSettings as EncodeFlags } from '../src/index.js';
import { npyHeader, readNpyF32 } from '../src/encode/npy.js';
import { planBatches, readEncodeInput } from '../src/encode/input.js';
import { Bert, type BertConfig } from '../src/models/bert.js';
import { BiEncoder } from '../src/models/biencoder.js';
import { hfConfigOf } from '../src/models/init.js';
import { saveBiEncoder } from '../src/train/biencoder-checkpoint.js';
import { fromVocab } from '../src/tokenize/index.js';
import { randn } from './support/rng.js';
import { contextRepresentation } from '../src/data/blink-inputs.js';
import { tinyVocab } from './support/vocab.js';

const VOCAB = tinyVocab('breast', 'cancer', 'brca', '##1', '.', 'cafe', 'tumor', 'gene', 'of', 'the', 'disease', 'colon');
const CFG: BertConfig = {
  vocabSize: VOCAB.length,
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 32,
  maxPositions: 24,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  pooler: true,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
};

const dir = mkdtempSync(join(tmpdir(), 'biofeg-encode-'));
const hfDir = join(dir, 'hf');
const vocabFile = join(dir, 'vocab.txt');
writeFileSync(vocabFile, VOCAB.join('\n') + '\n');
let ref: Bert;

/** A random BERT with non-trivial biases and LayerNorms. */
function randomBert(cfg: BertConfig, seed: number): Bert {
  const b = new Bert(cfg, 'cpu');
  const p = randn(b.numParameters, seed, 0.3);
  for (const e of b.layout)
    if (e.name.endsWith('LayerNorm.weight')) for (let i = 0; i < e.shape[0]!; i++) p[e.offset + i] = 1 + p[e.offset + i]!;
  b.parameters().upload(p);
  return b;
}

/** [CLS] (or pooled) of one sequence alone: batch 1, its own length. */
function single(bert: Bert, ids: number[], mask: number[] | null, pooled: boolean): Float32Array {
  const o = bert.forward({
    inputIds: Int32Array.from(ids),
    attentionMask: Int32Array.from(mask ?? ids.map(() => 1)),
    batch: 1,
    seq: ids.length,
    train: false,
  });
  return (pooled ? o.pooled! : o.cls).download() as Float32Array;
}

function expectClose(got: Float32Array, want: Float32Array): void {
  const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  expect(got.length).toBe(want.length);
  expect(err / scale).toBeLessThanOrEqual(1e-5);
}

const flags = (input: string, output: string, more: Partial<EncodeFlags> = {}): EncodeFlags => ({
  model: hfDir,
  input,
  output,
  device: 'cpu',
  batchSize: 3,
  ...more,
});

beforeAll(() => {
  ref = randomBert(CFG, 11);
  saveHfFolder(hfDir, hfConfigOf(CFG), ref.exportWeights(), { extraFiles: { 'vocab.txt': VOCAB.join('\n') + '\n' } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('biofeg encode', () => {
  const lines = [
    { text: 'BRCA1 breast cancer' },
    { input_ids: [5, 14, 16, 17, 19, 6], attention_mask: [1, 1, 1, 1, 0, 0] },
    { text: 'the disease of the colon . cafe gene tumor' },
    { input_ids: [5, 18, 6] },
    { text: '' },
    { input_ids: [5, 9, 9, 9, 9, 9, 9, 9, 8, 12, 6] },
    { text: 'Café tumor' },
  ];
  const tok = fromVocab(vocabFile);
  const want = lines.map((l) =>
    'text' in l && l.text !== undefined ? { ids: tok.encode(l.text), mask: null } : { ids: l.input_ids, mask: l.attention_mask ?? null },
  );

  for (const pooled of [false, true])
    it(`rows equal single-sequence forwards in input order (${pooled ? 'pooled' : '[CLS]'})`, async () => {
      const input = join(dir, 'in.jsonl'),
        output = join(dir, `out-${pooled}.npy`);
      // A blank line is skipped, CRLF accepted.
      writeFileSync(
        input,
        lines
          .map((l) => JSON.stringify(l))
          .join('\n')
          .replace('\n', '\r\n\n') + '\n',
      );
      const r = await runEncode(flags(input, output, { pooled }));
      expect(r).toEqual({ rows: lines.length, hidden: CFG.hiddenSize, output });
      const npy = readNpyF32(output);
      expect(npy.shape).toEqual([lines.length, CFG.hiddenSize]);
      want.forEach((w, i) => expectClose(npy.data.subarray(i * 16, (i + 1) * 16), single(ref, w.ids, w.mask, pooled)));
      expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    });

  it('cuts texts to --max-length keeping [SEP] last; longer input_ids are refused', async () => {
    const input = join(dir, 'long.jsonl'),
      output = join(dir, 'long.npy');
    const text = 'the disease of the colon . cafe gene tumor breast cancer';
    writeFileSync(input, JSON.stringify({ text }) + '\n');
    await runEncode(flags(input, output, { maxLength: 6 }));
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan(6);
    const cut = [...ids.slice(0, 5), tok.special.sep];
    expectClose(readNpyF32(output).data, single(ref, cut, null, false));
    writeFileSync(input, JSON.stringify({ input_ids: ids }) + '\n');
    await expect(runEncode(flags(input, output, { maxLength: 6 }))).rejects.toThrow(
      `${input}:1: expected at most 6 input_ids (--max-length), got ${ids.length}`,
    );
    await expect(runEncode(flags(input, output, { maxLength: 99 }))).rejects.toThrow(
      /maxLength \(--max-length\) 99 exceeds the model's max_position_embeddings 24/,
    );
  });

  it('names path:line of a bad line and writes nothing', async () => {
    const output = join(dir, 'bad.npy');
    const cases: Array<[string, number, RegExp]> = [
      ['{"text": "a"}\nnot json\n', 2, /expected a JSON object with a string "text", an "input_ids" array or a "mention"/],
      ['{"text": 3}\n', 1, /expected "text" to be a string/],
      ['{"text": "a", "input_ids": [5, 6]}\n', 1, /expected exactly one of "text" and "input_ids"/],
      ['{"x": 1}\n', 1, /expected exactly one of "text" and "input_ids"/],
      ['\n\n{"input_ids": [5, 20, 6]}\n', 3, /expected "input_ids" to be a non-empty array of integers in \[0, 20\)/],
      ['{"input_ids": []}\n', 1, /non-empty array/],
      ['{"input_ids": [5, 1.5, 6]}\n', 1, /non-empty array/],
      ['{"input_ids": [5, 6], "attention_mask": [1]}\n', 1, /"attention_mask" to be an array of 0\/1 as long as "input_ids" \(2\)/],
      ['{"input_ids": [5, 6], "attention_mask": [1, 2]}\n', 1, /attention_mask/],
    ];
    for (const [body, line, msg] of cases) {
      const input = join(dir, 'bad.jsonl');
      writeFileSync(input, body);
      const err = await runEncode(flags(input, output)).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(msg);
      expect(err?.message.startsWith(`${input}:${line}: `)).toBe(true);
      expect(existsSync(output)).toBe(false);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('refuses --pooled for a folder saved without the pooler, but encodes [CLS] from it', async () => {
    const noPool = join(dir, 'nopool');
    const w = ref.exportWeights();
    for (const k of [...w.keys()]) if (k.startsWith('pooler.')) w.delete(k);
    saveHfFolder(noPool, hfConfigOf(CFG), w, { extraFiles: { 'vocab.txt': VOCAB.join('\n') + '\n' } });
    const input = join(dir, 'np.jsonl'),
      output = join(dir, 'np.npy');
    writeFileSync(input, '{"input_ids": [5, 8, 9, 6]}\n');
    await expect(runEncode(flags(input, output, { model: noPool, pooled: true }))).rejects.toThrow(/--pooled needs a model with a pooler/);
    expect(existsSync(output)).toBe(false);
    await runEncode(flags(input, output, { model: noPool }));
    expectClose(readNpyF32(output).data, single(ref, [5, 8, 9, 6], null, false));
  });

  it('encodes one side of a bi-encoder checkpoint (--side), and asks for it', async () => {
    const m = new BiEncoder({ config: CFG, device: 'cpu' });
    let seed = 20;
    for (const p of m.parts()) p.params.upload(randn(p.params.shape[0]!, seed++, 0.3));
    const ck = join(dir, 'ck');
    await saveBiEncoder(ck, m, { settings: { addLinear: false, outDim: 1 }, vocabPath: vocabFile, torchBin: false });
    const input = join(dir, 'bi.jsonl'),
      output = join(dir, 'bi.npy');
    writeFileSync(input, '{"text": "breast cancer"}\n{"input_ids": [5, 18, 16, 6]}\n');
    await expect(runEncode(flags(input, output, { model: ck }))).rejects.toThrow(
      /bi-encoder checkpoint; give --side context or --side candidate/,
    );
    await expect(runEncode(flags(input, output, { side: 'context' }))).rejects.toThrow(/--side applies to bi-encoder checkpoints only/);
    for (const side of ['context', 'candidate'] as const) {
      await runEncode(flags(input, output, { model: ck, side }));
      const got = readNpyF32(output).data;
      const bert = m.encoder(side).bert;
      expectClose(got.subarray(0, 16), single(bert, tok.encode('breast cancer'), null, false));
      expectClose(got.subarray(16, 32), single(bert, [5, 18, 16, 6], null, false));
    }
  });

  it('--side context takes mentions in their context and windows them as training does', async () => {
    const m = new BiEncoder({ config: CFG, device: 'cpu' });
    let seed = 40;
    for (const p of m.parts()) p.params.upload(randn(p.params.shape[0]!, seed++, 0.3));
    const ck = join(dir, 'ck-mentions');
    await saveBiEncoder(ck, m, { settings: { addLinear: false, outDim: 1 }, vocabPath: vocabFile, torchBin: false });
    const mentions = [
      { mention: 'breast cancer', context_left: 'the gene of the', context_right: '. colon tumor' },
      { mention: 'brca1' },
      { mention: 'colon', context_left: 'tumor of the colon tumor of the colon', context_right: 'disease . the gene' },
    ];
    const input = join(dir, 'mentions.jsonl'),
      output = join(dir, 'mentions.npy');
    writeFileSync(input, `${mentions.map((x) => JSON.stringify(x)).join('\n')}\n`);
    const maxLength = 12;
    await runEncode(flags(input, output, { model: ck, side: 'context', maxLength }));
    const got = readNpyF32(output).data;
    // What training feeds the context encoder: the padded window, padding masked by id.
    const rows = mentions.map((x) => contextRepresentation(tok, x.mention, x.context_left ?? '', x.context_right ?? '', maxLength).ids);
    const ids = new Int32Array(rows.length * maxLength);
    rows.forEach((r, i) => ids.set(r, i * maxLength));
    const want = (await m.encode('context', { ids, rows: rows.length, seq: maxLength })).download() as Float32Array;
    expectClose(got, want);
    await expect(runEncode(flags(input, output, { model: ck, side: 'candidate' }))).rejects.toThrow(
      /mentions\.jsonl:1: a "mention" line needs a bi-encoder checkpoint's context side/,
    );
    writeFileSync(input, '{"mention": 3}\n');
    await expect(runEncode(flags(input, output, { model: ck, side: 'context' }))).rejects.toThrow(/:1: expected "mention" to be a string/);
  });

  it('runs from the command line with kebab- and snake-case flags and reports progress on stderr', async () => {
    const input = join(dir, 'cli.jsonl'),
      output = join(dir, 'cli.npy');
    writeFileSync(input, Array.from({ length: 10 }, (_, i) => JSON.stringify({ input_ids: [5, 8 + (i % 10), 6] })).join('\n'));
    let stderr = '';
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      stderr += String(s);
      return true;
    });
    try {
      const p = new Command().exitOverride();
      register(p);
      await p.parseAsync([
        'node',
        'biofeg',
        'encode',
        '--model',
        hfDir,
        '--input',
        input,
        '--output',
        output,
        '--batch_size',
        '4',
        '--max-length',
        '8',
        '--device',
        'cpu',
      ]);
    } finally {
      e.mockRestore();
    }
    expect(stderr).toMatch(/encode: 100% \(10\/10\)/);
    expect(stderr).toMatch(/wrote .*cli\.npy \(10 x 16 float32\)/);
    expect(readNpyF32(output).shape).toEqual([10, 16]);
  });

  it('plans batches longest first and covers every row once', () => {
    const input = join(dir, 'plan.jsonl');
    writeFileSync(input, [3, 7, 2, 7, 5].map((n) => JSON.stringify({ input_ids: Array(n).fill(5) })).join('\n'));
    const rows = readEncodeInput(input, { maxLength: 10, vocabSize: 20, tokenizer: () => tok });
    expect(planBatches(rows, 2)).toEqual([[1, 3], [4, 0], [2]]);
  });
});

describe('npy header', () => {
  it('is format 1.0, 64-byte aligned, little-endian f4, C order', () => {
    for (const shape of [[7, 16], [0, 768], [123456, 1024], [5]]) {
      const h = npyHeader(shape);
      expect(h.length % 64).toBe(0);
      expect(Array.from(h.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      const len = h[8]! | (h[9]! << 8);
      expect(10 + len).toBe(h.length);
      const dict = Buffer.from(h.subarray(10)).toString('latin1');
      expect(dict.endsWith('\n')).toBe(true);
      const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
      expect(dict.trimEnd()).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`);
    }
  });

  it('the file is header + raw little-endian floats', async () => {
    const input = join(dir, 'one.jsonl'),
      output = join(dir, 'one.npy');
    writeFileSync(input, '{"input_ids": [5, 6]}\n');
    await runEncode(flags(input, output));
    const buf = readFileSync(output);
    expect(buf.length).toBe(128 + 16 * 4);
    const first = buf.readFloatLE(128);
    expect(first).toBe(readNpyF32(output).data[0]);
  });
});
