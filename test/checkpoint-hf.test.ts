// HF folders and parameter names: BertModel order and shapes, the `bert.` prefix, TF-era LayerNorm
// names, BLINK bi-encoder prefixes, and all-or-nothing folder writes.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  bertDims,
  bertParamSpecs,
  biencoderSpecs,
  joinBiencoder,
  loadHfFolder,
  matchParams,
  readHfConfig,
  readTorchCheckpoint,
  requireFinite,
  requireParams,
  saveHfFolder,
  splitBiencoder,
  stripDataParallel,
  withPrefix,
  type CheckpointTensor,
} from '../src/checkpoint/index.js';

const FIX = join(import.meta.dirname, 'fixtures', 'checkpoint');
const REF = JSON.parse(readFileSync(join(FIX, 'reference.json'), 'utf8')) as Record<
  string,
  Record<string, { sum: number; shape: number[] }>
>;
const tmp = mkdtempSync(join(tmpdir(), 'biofeg-hf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sum = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};

describe('BERT names', () => {
  const cfg = readHfConfig(join(FIX, 'hf-safetensors', 'config.json'));
  const specs = bertParamSpecs(bertDims(cfg));

  it('bertParamSpecs gives the state_dict order and shapes of transformers BertModel', () => {
    const file = readTorchCheckpoint(join(FIX, 'hf-torch-zip', 'pytorch_model.bin'));
    const fileOrder = [...file].filter(([k]) => k !== 'embeddings.position_ids').map(([name, t]) => ({ name, shape: t.shape }));
    expect(specs).toEqual(fileOrder);
    expect(specs.length).toBe(5 + 16 * cfg.num_hidden_layers + 2);
    expect(bertParamSpecs({ ...bertDims(cfg), pooler: false }).some((s) => s.name.startsWith('pooler'))).toBe(false);
  });

  it('matchParams / requireParams report missing, unexpected and mis-shaped tensors', () => {
    const t = new Map(specs.map((s) => [s.name, { shape: s.shape }]));
    t.delete('pooler.dense.bias');
    t.set('embeddings.LayerNorm.weight', { shape: [9] });
    t.set('cls.extra', { shape: [1] });
    t.set('embeddings.position_ids', { shape: [1, 16] });
    const r = matchParams(specs, t);
    expect(r.missing).toEqual(['pooler.dense.bias']);
    expect(r.unexpected).toEqual(['cls.extra']);
    expect(r.mismatched).toEqual([{ name: 'embeddings.LayerNorm.weight', expected: [8], got: [9] }]);
    expect(() => requireParams('ckpt', specs, t)).toThrow(
      /ckpt: checkpoint does not fit the model: missing pooler\.dense\.bias; embeddings\.LayerNorm\.weight has shape \[9\], expected \[8\]; unexpected cls\.extra/,
    );
  });
});

describe('loadHfFolder', () => {
  const names = Object.keys(REF['bert']!);
  const check = (dir: string) => {
    const f = loadHfFolder(join(FIX, dir));
    expect(f.config.hidden_size).toBe(8);
    expect(f.config.num_attention_heads).toBe(2);
    expect(f.report.missing).toEqual([]);
    expect(f.report.unexpected).toEqual([]);
    expect(f.report.mismatched).toEqual([]);
    expect([...f.tensors.keys()].sort()).toEqual([...names].sort());
    for (const n of names) {
      const t = f.tensors.get(n)!;
      expect(t.data).toBeInstanceOf(Float32Array);
      expect(Math.abs(sum(t.data) - REF['bert']![n]!.sum)).toBeLessThan(1e-4);
    }
    return f;
  };

  it('reads model.safetensors', () => {
    const f = check('hf-safetensors');
    expect(f.files[0]).toMatch(/model\.safetensors$/);
    expect(f.prefixed).toBe(false);
  });

  it('reads pytorch_model.bin; int64 position_ids go to extra', () => {
    const f = check('hf-torch-zip');
    expect([...f.extra.keys()]).toEqual(['embeddings.position_ids']);
  });

  it('strips the `bert.` prefix; the MLM head goes to extra', () => {
    const f = check('hf-torch-zip-prefixed');
    expect(f.prefixed).toBe(true);
    expect([...f.extra.keys()].sort()).toEqual(['cls.predictions.bias', 'cls.predictions.decoder.weight']);
  });

  it('renames LayerNorm gamma/beta of legacy checkpoints', () => {
    check('hf-torch-legacy');
  });

  it('rejects a folder without weights and a bad config', () => {
    const d = join(tmp, 'empty');
    saveHfFolder(d, { hidden_size: 8, num_attention_heads: 2 }, new Map());
    rmSync(join(d, 'model.safetensors'));
    expect(() => loadHfFolder(d)).toThrow(/no model\.safetensors or pytorch_model\.bin/);
    writeFileSync(join(d, 'config.json'), '{"model_type": "roberta"}');
    expect(() => loadHfFolder(d)).toThrow(/model_type is "roberta", expected "bert"/);
    writeFileSync(join(d, 'config.json'), '{"hidden_size": 10, "num_attention_heads": 3}');
    expect(() => loadHfFolder(d)).toThrow(/not a multiple of num_attention_heads/);
    writeFileSync(join(d, 'config.json'), '{"hidden_size": 10,');
    expect(() => loadHfFolder(d)).toThrow(CheckpointError);
  });
});

describe('saveHfFolder', () => {
  const src = loadHfFolder(join(FIX, 'hf-torch-zip'));

  it('writes model.safetensors + config.json (+ extra files) that load back identically', () => {
    const d = join(tmp, 'out');
    saveHfFolder(d, src.config, src.tensors, { extraFiles: { 'vocab.txt': '[PAD]\n[UNK]\n' } });
    expect(readdirSync(d).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
    const back = loadHfFolder(d);
    expect(back.config).toEqual(src.config);
    for (const [k, t] of src.tensors) expect(Array.from(back.tensors.get(k)!.data), k).toEqual(Array.from(t.data));
    // Same bytes as transformers' own save_pretrained of the same model.
    expect(readFileSync(join(d, 'model.safetensors')).equals(readFileSync(join(FIX, 'hf-safetensors', 'model.safetensors')))).toBe(true);
  });

  it('replaces an existing folder only once the new one is complete', () => {
    const d = join(tmp, 'replace');
    saveHfFolder(d, src.config, src.tensors);
    const before = readFileSync(join(d, 'model.safetensors'));
    const bad = new Map(src.tensors);
    bad.set('broken', { shape: [3], data: new Float32Array(2) });
    expect(() => saveHfFolder(d, src.config, bad)).toThrow(/shape \[3\] does not match 2 elements/);
    expect(readFileSync(join(d, 'model.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.startsWith('.'))).toEqual([]);
    const scaled = new Map([...src.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * 2) }]));
    saveHfFolder(d, src.config, scaled);
    expect(loadHfFolder(d).tensors.get('pooler.dense.bias')!.data[0]).toBe(src.tensors.get('pooler.dense.bias')!.data[0]! * 2);
    expect(readdirSync(tmp).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('refuses weights holding NaN or an infinity, naming the file, tensor and element', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const d = join(tmp, `nonfinite-${bad}`);
      const t = new Map(src.tensors);
      const w = t.get('encoder.layer.0.attention.self.query.weight')!;
      const data = Float32Array.from(w.data);
      data[5] = bad;
      t.set('encoder.layer.0.attention.self.query.weight', { shape: w.shape, data });
      saveHfFolder(d, src.config, t);
      const err = (() => {
        try {
          loadHfFolder(d);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toBe(
        `${join(d, 'model.safetensors')}: encoder.layer.0.attention.self.query.weight holds ${bad} at element 5: refusing non-finite weights (a diverged or damaged checkpoint)`,
      );
    }
    expect(() => requireFinite('f', 'x', new Float32Array([1, 2, 3]))).not.toThrow();
    expect(() => requireFinite('f', 'ids', new Int32Array([1, 2]))).not.toThrow();
  });

  it('refuses extra file names that leave the folder', () => {
    expect(() => saveHfFolder(join(tmp, 'x'), src.config, src.tensors, { extraFiles: { '../evil': 'x' } })).toThrow(/bad extra file name/);
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });
});

describe('BLINK bi-encoder names', () => {
  const file = join(FIX, 'biencoder', 'pytorch_model.bin');
  const sd = readTorchCheckpoint(file);
  const cfg = readHfConfig(join(FIX, 'hf-safetensors', 'config.json'));
  const bert = bertParamSpecs(bertDims(cfg));

  it('biencoderSpecs gives the names, order and shapes of the original state_dict', () => {
    expect(biencoderSpecs(bert, 4)).toEqual([...sd].map(([name, t]) => ({ name, shape: t.shape })));
    const names = biencoderSpecs(bert, 4).map((s) => s.name);
    expect(names).toContain('context_encoder.bert_model.encoder.layer.0.attention.self.query.weight');
    expect(names).toContain('cand_encoder.bert_model.pooler.dense.bias');
    expect(names).toContain('context_encoder.additional_linear.weight');
    expect(biencoderSpecs(bert).some((s) => s.name.includes('additional_linear'))).toBe(false);
  });

  it('splitBiencoder gives two HF-named BERTs and the linears; joinBiencoder inverts it', () => {
    const parts = splitBiencoder(sd, file);
    for (const [n, r] of Object.entries(REF['bert']!)) {
      expect(Math.abs(sum(parts.context.bert.get(n)!.data) - r.sum), n).toBeLessThan(1e-4);
      expect(Math.abs(sum(parts.candidate.bert.get(n)!.data) + r.sum), n).toBeLessThan(1e-4);
    }
    expect(sum(parts.context.linear!.weight.data)).toBeCloseTo(
      REF['additional_linear']!['context_encoder.additional_linear.weight']!.sum,
      4,
    );
    expect(sum(parts.candidate.linear!.bias.data)).toBeCloseTo(REF['additional_linear']!['cand_encoder.additional_linear.bias']!.sum, 4);
    expect([...joinBiencoder(parts).keys()]).toEqual([...sd.keys()]);
    const specs = bertParamSpecs(bertDims(cfg));
    expect(requireParams(file, specs, parts.context.bert).length).toBe(specs.length);
  });

  it('accepts a DataParallel `module.` prefix and rejects foreign state_dicts', () => {
    const wrapped = withPrefix(sd, 'module.');
    expect(stripDataParallel(wrapped).size).toBe(sd.size);
    expect(splitBiencoder(wrapped).candidate.bert.size).toBe(bert.length);
    const bertOnly = readTorchCheckpoint(join(FIX, 'hf-torch-zip', 'pytorch_model.bin'));
    expect(() => splitBiencoder(bertOnly, 'x.bin')).toThrow(/x\.bin: not a bi-encoder state_dict: unexpected embeddings\./);
    const half = new Map<string, CheckpointTensor>([...sd].filter(([k]) => k !== 'cand_encoder.additional_linear.bias'));
    expect(() => splitBiencoder(half)).toThrow(/cand_encoder\.additional_linear has only one of weight and bias/);
  });
});
