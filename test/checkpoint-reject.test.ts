// Every way a checkpoint can be broken or hostile must give a clear error, never a crash, a hang,
// or code execution. Inputs are crafted here byte by byte.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  decodeSafetensors,
  decodeTorchCheckpoint,
  encodeSafetensors,
  readSafetensors,
  readTorchCheckpoint,
} from '../src/checkpoint/index.js';
import { MemorySource } from '../src/checkpoint/bytes.js';
import { PickleError, unpickle, type PickleHooks } from '../src/checkpoint/pickle.js';
import { TORCH_ALLOWED_GLOBALS } from '../src/checkpoint/torch-zip.js';
import { ZipReader } from '../src/checkpoint/zip.js';
import { buildZip } from './fixtures/checkpoint/build-zip.js';

const FIX = join(import.meta.dirname, 'fixtures', 'checkpoint');
const tmp = mkdtempSync(join(tmpdir(), 'biofeg-ckpt-bad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

/** safetensors bytes with a hand-written header and `dataLen` data bytes. */
function rawSt(header: string, dataLen: number, headerLen?: number): Buffer {
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLen ?? h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataLen, 1)]);
}

const t = (dtype: string, shape: number[], b: number, e: number): string => JSON.stringify({ dtype, shape, data_offsets: [b, e] });

describe('safetensors rejects', () => {
  const good = encodeSafetensors(
    new Map([
      ['a', { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }],
      ['b', { shape: [3], data: Float32Array.from([5, 6, 7]) }],
    ]),
  );

  it('a valid file parses (control)', () => {
    expect(decodeSafetensors(good).tensors.size).toBe(2);
  });

  it('a truncated file, from a file on disk', () => {
    const p = join(tmp, 'trunc.safetensors');
    writeFileSync(p, good.subarray(0, good.length - 3));
    const m = errorOf(() => readSafetensors(p));
    expect(m).toContain(p);
    expect(m).toMatch(/beyond the end of the file.*truncated/);
  });

  it('a file shorter than the length field', () => {
    expect(errorOf(() => decodeSafetensors(good.subarray(0, 5)))).toMatch(/shorter than the 8-byte header length/);
  });

  it('a header length beyond the file', () => {
    const b = Buffer.from(good);
    b.writeBigUInt64LE(1n << 40n, 0);
    expect(errorOf(() => decodeSafetensors(b))).toMatch(/header length 1099511627776 exceeds/);
  });

  it('invalid JSON', () => {
    expect(errorOf(() => decodeSafetensors(rawSt('{"a": {"dtype": "F32",}}', 0)))).toMatch(/invalid JSON/);
    expect(errorOf(() => decodeSafetensors(rawSt('[1, 2]', 0)))).toMatch(/does not start with "\{"/);
    expect(errorOf(() => decodeSafetensors(rawSt('{"a": 1} x', 0)))).toMatch(/invalid JSON.*trailing/);
  });

  it('a header that is not UTF-8', () => {
    const b = rawSt('{"a":1}', 0);
    b[10] = 0xff;
    expect(errorOf(() => decodeSafetensors(b))).toMatch(/not valid UTF-8/);
  });

  it('duplicate tensor names', () => {
    expect(errorOf(() => decodeSafetensors(rawSt(`{"x":${t('F32', [1], 0, 4)},"x":${t('F32', [1], 4, 8)}}`, 8)))).toMatch(
      /duplicate key "x"/,
    );
  });

  it('overlapping offsets', () => {
    const m = errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [4], 0, 16)},"b":${t('F32', [4], 8, 24)}}`, 24)));
    expect(m).toMatch(/"a" \[0, 16\] and "b" \[8, 24\] overlap/);
  });

  it('offsets beyond the end of the file', () => {
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [4], 0, 16)}}`, 8)))).toMatch(
      /"a": data_offsets \[0, 16\] lie beyond the end of the file/,
    );
  });

  it('a byte count that does not match dtype * shape', () => {
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [3], 0, 8)}}`, 8)))).toMatch(/hold 8 bytes but F32 \[3\] needs 12/);
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F16', [2, 2], 0, 16)}}`, 16)))).toMatch(/needs 8/);
  });

  it('offsets that end before they begin, gaps and trailing bytes', () => {
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [0], 8, 4)}}`, 8)))).toMatch(/end before they begin/);
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [1], 4, 8)}}`, 8)))).toMatch(
      /bytes 0\.\.4 before tensor "a" belong to no tensor/,
    );
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F32', [1], 0, 4)}}`, 8)))).toMatch(/4 trailing bytes/);
  });

  it('unknown and unsupported dtypes', () => {
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('Q7', [1], 0, 4)}}`, 4)))).toMatch(/unknown dtype "Q7"/);
    expect(errorOf(() => decodeSafetensors(rawSt(`{"a":${t('F8_E4M3', [1], 0, 1)}}`, 1)))).toMatch(/dtype F8_E4M3 is not supported/);
  });

  it('malformed entries and metadata', () => {
    expect(errorOf(() => decodeSafetensors(rawSt('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}', 0)))).toMatch(
      /"shape" must be an array of non-negative integers/,
    );
    expect(errorOf(() => decodeSafetensors(rawSt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', 0)))).toMatch(/2 entries/);
    expect(errorOf(() => decodeSafetensors(rawSt('{"__metadata__":{"k":1}}', 0)))).toMatch(/__metadata__/);
  });

  it('an I64 value outside the i32 range', () => {
    const d = Buffer.alloc(16);
    d.writeBigInt64LE(5n, 0);
    d.writeBigInt64LE(1n << 40n, 8);
    const h = Buffer.from(`{"ids":${t('I64', [2], 0, 16)}}`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    expect(errorOf(() => decodeSafetensors(Buffer.concat([len, h, d])))).toMatch(
      /"ids".*element 1 = 1099511627776 does not fit in 32 bits/,
    );
  });

  it('the writer refuses bad input', () => {
    expect(errorOf(() => encodeSafetensors(new Map([['a', { shape: [3], data: new Float32Array(2) }]])))).toMatch(
      /shape \[3\] does not match 2 elements/,
    );
    expect(
      errorOf(() =>
        encodeSafetensors([
          ['a', { shape: [1], data: new Float32Array(1) }],
          ['a', { shape: [1], data: new Float32Array(1) }],
        ]),
      ),
    ).toMatch(/duplicate tensor name "a"/);
    expect(errorOf(() => encodeSafetensors(new Map([['__metadata__', { shape: [1], data: new Float32Array(1) }]])))).toMatch(
      /invalid tensor name/,
    );
  });
});

/** Wrap a pickle as a minimal torch zip archive. */
function torchZip(pkl: Uint8Array, extra: Array<{ name: string; data: Uint8Array }> = []): Buffer {
  return buildZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/version', data: Buffer.from('3\n') }, ...extra]);
}

const bytes = (...parts: Array<number | string | number[] | Uint8Array>): Uint8Array =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))),
  );

describe('zip rejects', () => {
  it("an entry name with '..'", () => {
    const z = torchZip(bytes(0x80, 2, 0x7d, 0x2e), [{ name: 'archive/../../etc/evil', data: Buffer.from('x') }]);
    expect(errorOf(() => decodeTorchCheckpoint(z))).toMatch(/refusing entry "archive\/\.\.\/\.\.\/etc\/evil": '\.\.' path component/);
  });

  it('an absolute entry name', () => {
    for (const name of ['/etc/passwd', 'C:/Windows/evil', 'a\\..\\b']) {
      const z = torchZip(bytes(0x80, 2, 0x7d, 0x2e), [{ name, data: Buffer.from('x') }]);
      expect(errorOf(() => decodeTorchCheckpoint(z))).toMatch(/refusing entry/);
    }
  });

  it('a truncated archive', () => {
    const full = readFileSync(join(FIX, 'misc.bin'));
    const p = join(tmp, 'trunc.bin');
    writeFileSync(p, full.subarray(0, full.length - 100));
    expect(errorOf(() => readTorchCheckpoint(p))).toMatch(/no end-of-central-directory record \(truncated/);
    // The directory intact but the data cut: move the end record's offset past the file.
    const z = Buffer.from(full);
    z.writeUInt32LE(full.length + 10, full.length - 6);
    expect(errorOf(() => decodeTorchCheckpoint(z))).toMatch(/central directory .* beyond the end of the file/);
  });

  it('a corrupt entry (CRC), an unknown compression method, duplicates, a storage of the wrong size', () => {
    const z = torchZip(bytes(0x80, 2, 0x7d, 0x2e), [{ name: 'archive/x', data: Buffer.from('hello') }]);
    const i = z.indexOf('hello');
    z[i] = 0x48;
    expect(
      errorOf(() => {
        const r = new ZipReader(new MemorySource(z));
        r.read(r.get('archive/x')!);
      }),
    ).toMatch(/CRC-32 mismatch/);
    const m = torchZip(bytes(0x80, 2, 0x7d, 0x2e));
    m.writeUInt16LE(12, m.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10); // bzip2 in the directory
    expect(errorOf(() => decodeTorchCheckpoint(m))).toMatch(/compression method 12/);
    const d = buildZip([
      { name: 'archive/data.pkl', data: bytes(0x80, 2, 0x7d, 0x2e) },
      { name: 'archive/data.pkl', data: bytes(0x2e) },
    ]);
    expect(errorOf(() => decodeTorchCheckpoint(d))).toMatch(/duplicate entry/);
    // A storage entry shorter than the persistent id says: 4 floats declared, 8 bytes stored.
    const pkl = tensorPickle('FloatStorage', 4, [4]);
    expect(errorOf(() => decodeTorchCheckpoint(torchZip(pkl, [{ name: 'archive/data/0', data: new Uint8Array(8) }])))).toMatch(
      /storage entry archive\/data\/0 has 8 bytes, 4 F32 elements need 16/,
    );
    expect(errorOf(() => decodeTorchCheckpoint(torchZip(pkl)))).toMatch(/archive\/data\/0 is missing/);
  });

  it('not a checkpoint at all', () => {
    expect(errorOf(() => decodeTorchCheckpoint(Buffer.from('hello world')))).toMatch(/not a torch.save file/);
  });
});

/** GLOBAL opcode: 'c' module '\n' name '\n'. */
const G = (module: string, name: string): Uint8Array => bytes(0x63, `${module}\n${name}\n`);
const U = (s: string): Uint8Array => {
  const b = Buffer.from(s, 'utf8');
  return bytes(0x58, [b.length & 255, (b.length >> 8) & 255, 0, 0], [...b]);
};

/** A state_dict {'w': tensor(size, contiguous)} over storage '0' of `numel` elements. */
function tensorPickle(storage: string, numel: number, size: number[]): Uint8Array {
  const stride: number[] = [];
  let s = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    stride.unshift(s);
    s *= size[i]!;
  }
  const ints = (xs: number[]) => bytes(0x28, ...xs.map((x) => bytes(0x4b, x)), 0x74);
  return bytes(
    0x80,
    2,
    0x7d, // PROTO 2, EMPTY_DICT
    U('w'),
    G('torch._utils', '_rebuild_tensor_v2'),
    0x28, // MARK (args)
    0x28,
    U('storage'),
    G('torch', storage),
    U('0'),
    U('cpu'),
    0x4b,
    numel,
    0x74,
    0x51, // pid, BINPERSID
    0x4b,
    0,
    ints(size),
    ints(stride),
    0x89, // offset, size, stride, False
    G('collections', 'OrderedDict'),
    0x29,
    0x52, // OrderedDict()
    0x74,
    0x52, // TUPLE, REDUCE
    0x73,
    0x2e, // SETITEM, STOP
  );
}

describe('pickle rejects', () => {
  const hooks: PickleHooks = {
    allowedGlobals: TORCH_ALLOWED_GLOBALS,
    persistentLoad: () => null,
    reduce: () => null,
  };
  const fails = (pkl: Uint8Array): string => {
    try {
      unpickle(pkl, hooks);
    } catch (e) {
      expect(e).toBeInstanceOf(PickleError);
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('a valid crafted state_dict reads (control)', () => {
    const f = new Float32Array([1.5, -2, 3, 4.25]);
    const m = decodeTorchCheckpoint(
      torchZip(tensorPickle('FloatStorage', 4, [2, 2]), [{ name: 'archive/data/0', data: new Uint8Array(f.buffer) }]),
    );
    expect(m.get('w')!.shape).toEqual([2, 2]);
    expect(Array.from(m.get('w')!.data)).toEqual([1.5, -2, 3, 4.25]);
  });

  it('os.system through GLOBAL + REDUCE is refused before anything is called', () => {
    let called = false;
    const pkl = bytes(0x80, 2, G('os', 'system'), U('echo pwned'), 0x85, 0x52, 0x2e);
    const m = errorOf(() => decodeTorchCheckpoint(torchZip(pkl)));
    expect(m).toMatch(/archive\/data\.pkl: pickle byte 2: GLOBAL: global os\.system is not allowed/);
    expect(() =>
      unpickle(pkl, {
        ...hooks,
        reduce: () => {
          called = true;
          return null;
        },
      }),
    ).toThrow(/os\.system/);
    expect(called).toBe(false);
  });

  it('builtins.eval through STACK_GLOBAL, and globals close to allowed ones', () => {
    expect(fails(bytes(0x80, 4, U('builtins'), U('eval'), 0x93, 0x2e))).toMatch(/STACK_GLOBAL: global builtins\.eval is not allowed/);
    expect(fails(bytes(0x80, 2, G('torch', 'load'), 0x2e))).toMatch(/global torch\.load is not allowed/);
    expect(fails(bytes(0x80, 2, G('torch._utils', '_rebuild_tensor_v2.__globals__'), 0x2e))).toMatch(
      /global torch\._utils\._rebuild_tensor_v2\.__globals__ is not allowed/,
    );
    expect(fails(bytes(0x80, 2, 0x63, 'os system\n\n', 0x2e))).toMatch(/invalid name/);
  });

  it('unknown and unsupported opcodes', () => {
    expect(fails(bytes(0x80, 2, 0xff, 0x2e))).toMatch(/pickle byte 2: unknown: opcode 0xff is not supported/);
    expect(fails(bytes(0x80, 2, G('collections', 'OrderedDict'), 0x29, 0x81, 0x2e))).toMatch(/NEWOBJ: opcode 0x81 is not supported/);
    expect(fails(bytes(0x80, 2, 0x69, 'os\nsystem\n', 0x2e))).toMatch(/INST: opcode 0x69/);
    expect(fails(bytes(0x80, 2, 0x8f, 0x2e))).toMatch(/EMPTY_SET/);
    expect(fails(bytes(0x80, 9, 0x2e))).toMatch(/protocol 9 is unknown/);
  });

  it('structural damage: truncation, stack underflow, dangling memo, REDUCE on a non-global, misuse of containers', () => {
    expect(fails(bytes(0x80, 2, 0x7d))).toMatch(/data ends before STOP/);
    expect(fails(bytes(0x80, 2, 0x58, [100, 0, 0, 0], 'abc'))).toMatch(/BINUNICODE: needs 100 bytes/);
    expect(fails(bytes(0x80, 2, 0x73, 0x2e))).toMatch(/SETITEM: stack underflow/);
    expect(fails(bytes(0x80, 2, 0x68, 7, 0x2e))).toMatch(/BINGET: memo slot 7 was never set/);
    expect(fails(bytes(0x80, 2, U('x'), 0x29, 0x52, 0x2e))).toMatch(/REDUCE: callable is a string "x", not an allowed global/);
    expect(fails(bytes(0x80, 2, 0x5d, U('k'), U('v'), 0x73, 0x2e))).toMatch(/SETITEM: target is a list of 0, not a dict/);
    expect(fails(bytes(0x80, 2, 0x7d, 0x4e, 0x61, 0x2e))).toMatch(/APPEND: target is a dict of 0, not a list/);
    expect(fails(bytes(0x80, 2, 0x7d, 0x7d, 0x2e))).toMatch(/STOP: 1 items left/);
    expect(fails(bytes(0x80, 2, 0x75, 0x2e))).toMatch(/SETITEMS: no MARK/);
  });

  it('bad tensor arguments: out-of-bounds views, unknown storage types, non-tensor values, a non-dict root', () => {
    const z = (pkl: Uint8Array) => torchZip(pkl, [{ name: 'archive/data/0', data: new Uint8Array(16) }]);
    // size [5] over a 4-element storage.
    expect(errorOf(() => decodeTorchCheckpoint(z(tensorPickle('FloatStorage', 4, [5]))))).toMatch(
      /reaches element 4 of a 4-element storage/,
    );
    expect(errorOf(() => decodeTorchCheckpoint(z(tensorPickle('ComplexFloatStorage', 4, [4]))))).toMatch(
      /global torch\.ComplexFloatStorage is not allowed/,
    );
    const notTensor = bytes(0x80, 2, 0x7d, U('epoch'), 0x4b, 3, 0x73, 0x2e);
    expect(errorOf(() => decodeTorchCheckpoint(z(notTensor)))).toMatch(/state_dict entry "epoch" is a number 3, not a tensor/);
    const listRoot = bytes(0x80, 2, 0x5d, 0x2e);
    expect(errorOf(() => decodeTorchCheckpoint(z(listRoot)))).toMatch(/list of 0, not a state_dict/);
  });

  it('the legacy format: wrong magic, truncated storages', () => {
    const legacy = readFileSync(join(FIX, 'hf-torch-legacy', 'pytorch_model.bin'));
    const p = join(tmp, 'legacy-trunc.bin');
    writeFileSync(p, legacy.subarray(0, legacy.length - 10));
    expect(errorOf(() => readTorchCheckpoint(p))).toMatch(/lie beyond the end of the file \(truncated\?\)/);
    const bad = Buffer.from(legacy);
    bad[5] ^= 0xff; // inside the magic number's LONG1 bytes
    expect(errorOf(() => decodeTorchCheckpoint(bad))).toMatch(/bad magic number/);
    expect(errorOf(() => decodeTorchCheckpoint(Buffer.concat([legacy, Buffer.from([0])])))).toMatch(/1 trailing bytes/);
  });
});
