// Reading and writing checkpoints against the committed fixture (test/fixtures/checkpoint, made by
// test/reference/make_checkpoint_fixture.py with torch + transformers; no Python needed here).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  decodeTorchCheckpoint,
  encodeSafetensors,
  readSafetensors,
  readTorchCheckpoint,
  writeSafetensors,
  writeTorchCheckpoint,
  type CheckpointTensor,
} from '../src/checkpoint/index.js';
import { MemorySource } from '../src/checkpoint/bytes.js';
import { ZipReader } from '../src/checkpoint/zip.js';
import { PyDict, unpickle } from '../src/checkpoint/pickle.js';
import { buildZip } from './fixtures/checkpoint/build-zip.js';

const FIX = join(import.meta.dirname, 'fixtures', 'checkpoint');
interface RefEntry {
  shape: number[];
  dtype: string;
  sum: number;
  abs_sum: number;
  first: number[];
}
const REF = JSON.parse(readFileSync(join(FIX, 'reference.json'), 'utf8')) as Record<string, Record<string, RefEntry>>;

const tmp = mkdtempSync(join(tmpdir(), 'biofeg-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sums(a: ArrayLike<number>): { sum: number; abs: number } {
  let s = 0;
  let t = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i]!;
    t += Math.abs(a[i]!);
  }
  return { sum: s, abs: t };
}

/** Check a tensor against its reference statistics (f32 data, f64 reference sums). */
function expectMatches(t: CheckpointTensor | undefined, r: RefEntry | undefined, name: string): void {
  expect(t, name).toBeDefined();
  expect(r, name).toBeDefined();
  expect(t!.shape, name).toEqual(r!.shape);
  const { sum, abs } = sums(t!.data);
  const tol = 1e-5 * Math.max(1, r!.abs_sum);
  expect(Math.abs(sum - r!.sum), `${name} sum`).toBeLessThan(tol);
  expect(Math.abs(abs - r!.abs_sum), `${name} abs sum`).toBeLessThan(tol);
  const first = Array.from(t!.data.slice(0, 4));
  first.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(r!.first[i]!, 6));
}

function expectSameTensors(a: Map<string, CheckpointTensor>, b: Map<string, CheckpointTensor>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, k).toEqual(t.shape);
    expect(u.data.constructor, k).toBe(t.data.constructor);
    expect(
      Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      ),
      k,
    ).toBe(true);
  }
}

const bertRef = REF['bert']!;
const bertNames = Object.keys(bertRef);

describe('fixture checkpoints', () => {
  const st = readSafetensors(join(FIX, 'hf-safetensors', 'model.safetensors'));
  const zip = readTorchCheckpoint(join(FIX, 'hf-torch-zip', 'pytorch_model.bin'));
  const prefixed = readTorchCheckpoint(join(FIX, 'hf-torch-zip-prefixed', 'pytorch_model.bin'));
  const legacy = readTorchCheckpoint(join(FIX, 'hf-torch-legacy', 'pytorch_model.bin'));

  it('safetensors (save_pretrained) matches the reference sums', () => {
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()].sort()).toEqual([...bertNames].sort());
    for (const n of bertNames) expectMatches(st.tensors.get(n), bertRef[n], n);
    for (const t of st.tensors.values()) expect(t.dtype).toBe('F32');
  });

  it('torch.save zip (OrderedDict with _metadata, int64 position_ids) matches the reference sums', () => {
    for (const n of bertNames) expectMatches(zip.get(n), bertRef[n], n);
    const pos = zip.get('embeddings.position_ids')!;
    expect(pos.dtype).toBe('I64');
    expect(pos.data).toBeInstanceOf(Int32Array);
    expect(pos.shape).toEqual([1, 16]);
    expect(Array.from(pos.data)).toEqual([...Array(16).keys()]);
  });

  it('the `bert.` prefixed zip with a tied MLM decoder weight reads both views of the shared storage', () => {
    for (const n of bertNames) expectMatches(prefixed.get(`bert.${n}`), bertRef[n], n);
    const cls = REF['cls']!;
    for (const n of Object.keys(cls)) expectMatches(prefixed.get(n), cls[n], n);
    const dec = prefixed.get('cls.predictions.decoder.weight')!;
    const emb = prefixed.get('bert.embeddings.word_embeddings.weight')!;
    expect(Array.from(dec.data)).toEqual(Array.from(emb.data));
    // Both own their data: writing one does not change the other.
    dec.data[0] = 12345;
    expect(emb.data[0]).not.toBe(12345);
  });

  it('the legacy (torch < 1.6) format with gamma/beta names matches the reference sums', () => {
    for (const n of bertNames) {
      const old = n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
      expectMatches(legacy.get(old), bertRef[n], n);
    }
  });

  it('all four files hold bit-identical BERT tensors', () => {
    for (const n of bertNames) {
      const a = st.tensors.get(n)!.data;
      const old = n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
      for (const b of [zip.get(n)!.data, prefixed.get(`bert.${n}`)!.data, legacy.get(old)!.data]) {
        expect(Array.from(b), n).toEqual(Array.from(a));
      }
    }
  });

  it('torch zip keeps the state_dict order', () => {
    expect([...zip.keys()].filter((k) => k !== 'embeddings.position_ids')).toEqual([
      'embeddings.word_embeddings.weight',
      'embeddings.position_embeddings.weight',
      'embeddings.token_type_embeddings.weight',
      'embeddings.LayerNorm.weight',
      'embeddings.LayerNorm.bias',
      ...bertNames.filter((n) => n.startsWith('encoder.')).sort((a, b) => orderKey(a) - orderKey(b)),
      'pooler.dense.weight',
      'pooler.dense.bias',
    ]);
  });
});

function orderKey(n: string): number {
  const parts = [
    'attention.self.query',
    'attention.self.key',
    'attention.self.value',
    'attention.output.dense',
    'attention.output.LayerNorm',
    'intermediate.dense',
    'output.dense',
    'output.LayerNorm',
  ];
  const sub = n.replace(/^encoder\.layer\.0\./, '');
  const i = parts.findIndex((p) => sub.startsWith(`${p}.`));
  return i * 2 + (sub.endsWith('.bias') ? 1 : 0);
}

describe('dtypes and views', () => {
  const misc = readTorchCheckpoint(join(FIX, 'misc.bin'));
  const miscRef = REF['misc']!;

  it('torch zip: f16, bf16, f64, i64, i32, bool, transposed, offset views, a row, a scalar', () => {
    for (const [n, r] of Object.entries(miscRef)) expectMatches(misc.get(n), r, n);
    expect(misc.get('f16')!.dtype).toBe('F16');
    expect(misc.get('bf16')!.dtype).toBe('BF16');
    expect(misc.get('i64')!.data).toBeInstanceOf(Int32Array);
    expect(Array.from(misc.get('i64')!.data)).toEqual([-5, 0, 7, 2147483647, -2147483648, 3]);
    expect(Array.from(misc.get('bool')!.data)).toEqual([1, 0, 1]);
    expect(misc.get('scalar')!.shape).toEqual([]);
    // base = arange(24).reshape(4, 6) * 0.25 - 2; transposed[i][j] = base[j][i].
    const tr = misc.get('transposed')!;
    expect(tr.shape).toEqual([6, 4]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) expect(tr.data[i * 4 + j]).toBe((j * 6 + i) * 0.25 - 2);
    const ov = misc.get('offset_view')!;
    expect(Array.from(ov.data)).toEqual([8, 9, 10, 14, 15, 16].map((v) => v * 0.25 - 2));
  });

  it('safetensors: the same dtypes and __metadata__', () => {
    const s = readSafetensors(join(FIX, 'misc.safetensors'));
    expect(s.metadata).toEqual({ note: 'fixture' });
    for (const [n, t] of s.tensors) expectMatches(t, miscRef[n], n);
    expect(Array.from(s.tensors.get('transposed')!.data)).toEqual(Array.from(misc.get('transposed')!.data));
    expect(Array.from(s.tensors.get('f16')!.data)).toEqual(Array.from(misc.get('f16')!.data));
  });

  it('a deflate-compressed copy of a torch zip reads the same (inflateRaw)', () => {
    const bytes = readFileSync(join(FIX, 'misc.bin'));
    const zr = new ZipReader(new MemorySource(bytes, 'misc.bin'));
    const rebuilt = buildZip(zr.entries.map((e) => ({ name: e.name, data: zr.read(e), deflate: true })));
    expectSameTensors(decodeTorchCheckpoint(rebuilt, 'deflated'), misc);
  });

  it('a renamed top folder inside the zip is accepted', () => {
    const bytes = readFileSync(join(FIX, 'misc.bin'));
    const zr = new ZipReader(new MemorySource(bytes, 'misc.bin'));
    const rebuilt = buildZip(zr.entries.map((e) => ({ name: e.name.replace(/^[^/]+\//, 'archive/'), data: zr.read(e) })));
    expectSameTensors(decodeTorchCheckpoint(rebuilt, 'renamed'), misc);
  });
});

describe('safetensors writer', () => {
  const hfPath = join(FIX, 'hf-safetensors', 'model.safetensors');
  const hf = readSafetensors(hfPath);

  it("writes the same bytes as transformers' save_pretrained", () => {
    const ours = encodeSafetensors(hf.tensors, { format: 'pt' });
    expect(Buffer.from(ours).equals(readFileSync(hfPath))).toBe(true);
  });

  it('round-trips F32 and I32 tensors through a file, sorted, 8-byte aligned, with metadata', () => {
    const t = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>([
      ['z.last', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }],
      ['a.first', { shape: [3], data: Int32Array.from([-1, 0, 2147483647]) }],
      ['m.empty', { shape: [0, 4], data: new Float32Array(0) }],
      ['m.scalar', { shape: [], data: Float32Array.from([Math.PI]) }],
    ]);
    const p = join(tmp, 'rt.safetensors');
    writeSafetensors(p, t, { who: 'test' });
    const bytes = readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(Object.keys(JSON.parse(header) as object)).toEqual(['__metadata__', 'a.first', 'm.empty', 'm.scalar', 'z.last']);
    const back = readSafetensors(p);
    expect(back.metadata).toEqual({ who: 'test' });
    expect(back.tensors.get('a.first')!.dtype).toBe('I32');
    expectSameTensors(back.tensors, new Map([...t].map(([k, v]) => [k, { dtype: 'F32' as const, ...v }])));
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('round-trips every tensor of the torch fixtures', () => {
    for (const f of ['hf-torch-zip/pytorch_model.bin', 'hf-torch-zip-prefixed/pytorch_model.bin', 'biencoder/pytorch_model.bin']) {
      const a = readTorchCheckpoint(join(FIX, f));
      const b = decodeSafetensors(encodeSafetensors(a)).tensors;
      expectSameTensors(b, a);
    }
  });
});

describe('torch.save writer', () => {
  it('writes a zip state_dict that our reader (and torch.load, checked once) reads back identically', () => {
    const sd = readTorchCheckpoint(join(FIX, 'biencoder', 'pytorch_model.bin'));
    const p = join(tmp, 'bi.bin');
    writeTorchCheckpoint(p, sd);
    const back = readTorchCheckpoint(p);
    expect([...back.keys()]).toEqual([...sd.keys()]);
    expectSameTensors(back, sd);
    const zr = new ZipReader(new MemorySource(readFileSync(p), p));
    expect(zr.entries.map((e) => e.name).slice(0, 2)).toEqual(['archive/data.pkl', 'archive/byteorder']);
    for (const e of zr.entries.filter((x) => x.name.startsWith('archive/data/'))) expect(e.dataStart % 64).toBe(0);
    // The pickle names nothing beyond these three globals (the unpickler refuses any other).
    const only = new Set(['collections.OrderedDict', 'torch.FloatStorage', 'torch._utils._rebuild_tensor_v2']);
    const seen = new Set<string>();
    unpickle(zr.read(zr.get('archive/data.pkl')!), {
      allowedGlobals: only,
      persistentLoad: () => null,
      reduce: (fn) => (seen.add(fn.path), fn.path === 'collections.OrderedDict' ? new PyDict(true) : null),
    });
    expect([...seen].sort()).toEqual(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2']);
  });

  it('writes int32 tensors and scalars', () => {
    const p = join(tmp, 'int.bin');
    writeTorchCheckpoint(
      p,
      new Map([
        ['ids', { shape: [2, 3], data: Int32Array.from([1, 2, 3, -4, 5, 2147483647]) }],
        ['s', { shape: [], data: Float32Array.from([2.5]) }],
      ]),
    );
    const back = readTorchCheckpoint(p);
    expect(back.get('ids')!.dtype).toBe('I32');
    expect(Array.from(back.get('ids')!.data)).toEqual([1, 2, 3, -4, 5, 2147483647]);
    expect(back.get('s')!.shape).toEqual([]);
  });
});
