// Issue 16, class 1 (unbounded work from small inputs) and the checkpoint items of class 8: every
// hostile input is generated here, small on disk, and must be refused with a CheckpointError
// naming the file and the budget, quickly and without a large allocation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  decodeSafetensors,
  decodeTorchCheckpoint,
  encodeSafetensors,
  encodeTorchCheckpoint,
  readCheckpointFile,
  readTorchCheckpoint,
  readTorchSave,
  splitBiencoder,
} from '../../src/checkpoint/index.js';
import { DEFAULT_CHECKPOINT_LIMITS } from '../../src/checkpoint/limits.js';
import { PickleError, unpickle } from '../../src/checkpoint/pickle.js';
import { decodeTorchSave, TORCH_ALLOWED_GLOBALS } from '../../src/checkpoint/torch-zip.js';
import { buildZip } from '../fixtures/checkpoint/build-zip.js';
import { G, OP, U, bytes, dictPickle, doublingValue, put, smallStateDict, tensorOp, torchZip, validSafetensors } from '../fuzz/gen.js';

const tmp = mkdtempSync(join(tmpdir(), 'biofeg-hard-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function refusal(f: () => unknown): string {
  const t0 = performance.now();
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    expect(performance.now() - t0).toBeLessThan(5000);
    return (e as Error).message;
  }
  throw new Error('expected a CheckpointError');
}

function file(name: string, data: Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, data);
  return p;
}

/** Heap growth of `f` in MB (after a GC when exposed). */
function heapGrowth(f: () => void): number {
  const before = process.memoryUsage().rss;
  f();
  return (process.memoryUsage().rss - before) / 2 ** 20;
}

describe('pickle budgets', () => {
  const hooks = { allowedGlobals: TORCH_ALLOWED_GLOBALS, persistentLoad: () => null, reduce: () => null };

  it('a deflated data.pkl of millions of NONE opcodes stops at the stack budget, not at 3 GB', () => {
    const n = DEFAULT_CHECKPOINT_LIMITS.maxPickleStack + 10;
    const pkl = Buffer.concat([bytes(OP.PROTO, 2), Buffer.alloc(n, OP.NONE), bytes(OP.STOP)]);
    const zip = torchZip(pkl, [], true); // a few KB on disk
    expect(zip.length).toBeLessThan(64 * 1024);
    const p = file('nones.bin', zip);
    let msg = '';
    const grew = heapGrowth(() => {
      msg = refusal(() => readTorchCheckpoint(p));
    });
    expect(msg).toContain(p);
    expect(msg).toMatch(/NONE: more than 1000000 items on the stack \(the limit\)/);
    expect(grew).toBeLessThan(400);
  });

  it('opcode, memo and node budgets are each enforced, and overridable', () => {
    const many = Buffer.concat([
      bytes(OP.PROTO, 2, OP.EMPTY_LIST),
      ...Array.from({ length: 50 }, () => bytes(OP.NONE, OP.APPEND)),
      bytes(OP.STOP),
    ]);
    expect(() => unpickle(many, hooks, 0, { maxOps: 20 })).toThrow(/more than 20 opcodes/);
    expect(unpickle(many, hooks).value).toBeTruthy();
    const memo = Buffer.concat([bytes(OP.PROTO, 2, OP.NONE), ...Array.from({ length: 30 }, (_, i) => put(i)), bytes(OP.STOP)]);
    expect(() => unpickle(memo, hooks, 0, { maxMemo: 10 })).toThrow(PickleError);
    expect(() => unpickle(memo, hooks, 0, { maxMemo: 10 })).toThrow(/more than 10 memo entries/);
    const p = file(
      'ops.bin',
      torchZip(dictPickle([['x', Buffer.concat([bytes(OP.EMPTY_LIST), ...Array.from({ length: 100 }, () => bytes(OP.NONE, OP.APPEND))])]])),
    );
    expect(refusal(() => readTorchSave(p, { limits: { maxPickleOps: 50 } }))).toMatch(/more than 50 opcodes/);
    expect(refusal(() => readTorchSave(p, { limits: { maxNodes: 30 } }))).toMatch(/more than 30 values built/);
  });

  it('a GAN checkpoint plus a subtree referenced 2^24 times is refused by the node budget, not by running out of heap', () => {
    const pkl = dictPickle([
      ['generator', bytes(G('collections', 'OrderedDict'), OP.EMPTY_TUPLE, OP.REDUCE)],
      ['bomb', doublingValue(24)],
    ]);
    expect(pkl.length).toBeLessThan(500);
    const p = file('gan-bomb.bin', torchZip(pkl));
    const msg = refusal(() => readTorchSave(p));
    expect(msg).toContain(p);
    expect(msg).toMatch(/more nodes than the limit once expanded .*referenced many times/);
    // The same shape, shallow enough, reads.
    const ok = decodeTorchSave(torchZip(dictPickle([['small', doublingValue(3)]]))) as Map<string, unknown>;
    expect(JSON.stringify(ok.get('small'))).toBe('[[[null,null],[null,null]],[[null,null],[null,null]]]');
  });

  it('500k APPENDS and 500k-item tuples do not overflow the JS stack', () => {
    const n = 500_000;
    const list = Buffer.concat([bytes(OP.EMPTY_LIST, OP.MARK), Buffer.alloc(n, OP.NONE), bytes(OP.APPENDS)]);
    const v = decodeTorchSave(torchZip(dictPickle([['l', list]]))) as Map<string, unknown[]>;
    expect(v.get('l')!.length).toBe(n);
    const tuple = Buffer.concat([bytes(OP.MARK), Buffer.alloc(n, OP.NONE), bytes(OP.TUPLE)]);
    expect((decodeTorchSave(torchZip(dictPickle([['t', tuple]]))) as Map<string, unknown[]>).get('t')!.length).toBe(n);
  });

  it('a data.pkl that declares 4 GiB is refused before it is inflated', () => {
    const zip = torchZip(bytes(OP.PROTO, 2, OP.EMPTY_DICT, OP.STOP), [], true);
    // Patch the declared size of data.pkl (first entry) in both headers.
    zip.writeUInt32LE(0xfffffff0, 22);
    zip.writeUInt32LE(0xfffffff0, zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 24);
    const msg = refusal(() => decodeTorchCheckpoint(zip, 'declared.bin'));
    expect(msg).toMatch(/declared\.bin: zip entry "archive\/data\.pkl" declares 4294967280 bytes/);
    // Within the deflate ratio but over the pickle budget:
    const big = Buffer.concat([bytes(OP.PROTO, 2), Buffer.alloc(2 << 20, OP.NONE), bytes(OP.STOP)]);
    expect(refusal(() => decodeTorchCheckpoint(torchZip(big, [], true), 'big.bin', { limits: { maxPickleBytes: 1 << 20 } }))).toMatch(
      /over the 1048576-byte limit for a pickle/,
    );
  });

  it('a storage whose declared size is over the budget is refused before it is read', () => {
    const pkl = dictPickle([['w', tensorOp('0', 1 << 20, [4], [1])]]); // a small view of a 4 MiB storage
    const zip = torchZip(pkl, [['0', new Uint8Array(4 << 20)]], true);
    expect(refusal(() => decodeTorchCheckpoint(zip, 'st.bin', { limits: { maxTensorBytes: 1 << 20 } }))).toMatch(
      /storage 0 .*declares 1048576 F32 elements \(4194304 bytes\), over the 1048576-byte limit/,
    );
  });

  it('a stride-0 tensor of shape [2^15, 2^15] over one element is refused before it is expanded', () => {
    const pkl = dictPickle([['embeddings.word_embeddings.weight', tensorOp('0', 1, [1 << 15, 1 << 15], [0, 0])]]);
    const p = file('stride0.bin', torchZip(pkl, [['0', new Uint8Array(4)]]));
    let msg = '';
    const grew = heapGrowth(() => {
      msg = refusal(() => readTorchCheckpoint(p));
    });
    expect(msg).toContain(p);
    expect(msg).toMatch(
      /"embeddings\.word_embeddings\.weight", is a view of shape \[32768, 32768\], stride \[0, 0\]\); refused before expanding/,
    );
    expect(grew).toBeLessThan(200);
    // Larger than a typed array can hold: named, not "Array buffer allocation failed".
    const huge = dictPickle([['x', tensorOp('0', 1, [1 << 20, 1 << 20], [0, 0])]]);
    expect(refusal(() => decodeTorchCheckpoint(torchZip(huge, [['0', new Uint8Array(4)]]), 'huge.bin'))).toMatch(
      /tensor "x" of shape \[1048576, 1048576\] has 1099511627776 elements, over the 4294967295-element limit/,
    );
    // With the model's shapes, the name and shape are checked first.
    const expect_ = { shapes: new Map([['embeddings.word_embeddings.weight', [30522, 768]]]) };
    expect(refusal(() => readTorchCheckpoint(p, { expect: expect_ }))).toMatch(
      /embeddings\.word_embeddings\.weight has shape \[32768, 32768\], the model expects \[30522, 768\]/,
    );
    // An expanded buffer (position_ids is often arange().expand(1, -1)) still reads.
    const ok = dictPickle([['embeddings.position_ids', tensorOp('0', 4, [1, 4], [0, 1], 'IntStorage')]]);
    const t = decodeTorchCheckpoint(torchZip(ok, [['0', new Uint8Array(Int32Array.from([0, 1, 2, 3]).buffer)]])).get(
      'embeddings.position_ids',
    )!;
    expect(Array.from(t.data)).toEqual([0, 1, 2, 3]);
  });
});

describe('the strict loader refuses what the model does not have', () => {
  const shapes = new Map([...smallStateDict()].map(([k, t]) => [k, t.shape]));

  it('an unexpected extra tensor, in safetensors and torch files, before any data is read', () => {
    const extra = new Map([...smallStateDict(), ['evil.extra', { shape: [2], data: Float32Array.from([1, 2]) }]]);
    const st = file('extra.safetensors', encodeSafetensors(extra));
    const pt = file('extra.bin', Buffer.concat(encodeTorchCheckpoint(extra)));
    for (const p of [st, pt]) {
      const msg = refusal(() => readCheckpointFile(p, { expect: { shapes } }));
      expect(msg).toContain(p);
      expect(msg).toMatch(/unexpected tensor evil\.extra \(the model has no such parameter\)/);
      expect(readCheckpointFile(p, { expect: { shapes, allowUnexpected: true } }).size).toBe(4);
    }
    expect(readCheckpointFile(file('ok.safetensors', validSafetensors()), { expect: { shapes, requireAll: true } }).size).toBe(3);
    expect(
      refusal(() =>
        decodeSafetensors(validSafetensors(), 'x.st', {
          expect: { shapes: new Map([...shapes, ['pooler.dense.bias', [3]]]), requireAll: true },
        }),
      ),
    ).toMatch(/missing pooler\.dense\.bias/);
  });

  it('splitBiencoder refuses a name under a bi-encoder prefix that no BERT has', () => {
    const t = { shape: [1] };
    const sd = new Map([
      ['context_encoder.bert_model.embeddings.word_embeddings.weight', t],
      ['cand_encoder.bert_model.embeddings.word_embeddings.weight', t],
      ['context_encoder.bert_model.encoder.layer.0.attention.output.LayerNorm.gamma', t],
    ]);
    expect(() => splitBiencoder(sd, 'x.bin')).not.toThrow();
    sd.set('context_encoder.bert_model.evil', t);
    expect(() => splitBiencoder(sd, 'x.bin')).toThrow(/x\.bin: not a bi-encoder state_dict: unexpected context_encoder\.bert_model\.evil/);
    sd.delete('context_encoder.bert_model.evil');
    sd.set('cand_encoder.additional_linear.extra', t);
    expect(() => splitBiencoder(sd, 'x.bin')).toThrow(/unexpected cand_encoder\.additional_linear\.extra/);
  });
});

describe('zip entries', () => {
  it('a declared size deflate cannot produce from the stored bytes is refused without inflating', () => {
    const z = buildZip([
      { name: 'archive/data.pkl', data: bytes(OP.PROTO, 2, OP.EMPTY_DICT, OP.STOP), deflate: true },
      { name: 'archive/version', data: Buffer.from('3\n') },
    ]);
    z.writeUInt32LE(50_000_000, z.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 24);
    expect(refusal(() => decodeTorchCheckpoint(z, 'ratio.bin'))).toMatch(
      /declares 50000000 bytes from \d+ deflated bytes, more than deflate can produce/,
    );
  });

  it('a pickle that names os.system still fails at the GLOBAL (control: budgets change nothing there)', () => {
    const pkl = bytes(OP.PROTO, 2, G('os', 'system'), U('echo'), 0x85, OP.REDUCE, OP.STOP);
    expect(refusal(() => decodeTorchCheckpoint(torchZip(pkl)))).toMatch(/global os\.system is not allowed/);
  });
});
