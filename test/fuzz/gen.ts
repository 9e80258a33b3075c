// Generators of small valid inputs for every reader, hand-crafted hostile pieces (pickle opcodes,
// zip records), and the byte / text mutations the fuzz suite applies to them. Nothing large is
// stored: every input is built here.
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { encodeSafetensors, encodeTorchCheckpoint, encodeTorchSave, torchDict } from '../../src/checkpoint/index.js';
import { buildZip } from '../fixtures/checkpoint/build-zip.js';

export const bytes = (...parts: Array<number | string | number[] | Uint8Array>): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))),
  );

/** Pickle opcodes used by the crafted inputs. */
export const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  NONE: 0x4e,
  NEWFALSE: 0x89,
  BININT1: 0x4b,
  BINUNICODE: 0x58,
  TUPLE: 0x74,
  TUPLE2: 0x86,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  APPEND: 0x61,
  APPENDS: 0x65,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  MEMOIZE: 0x94,
} as const;

/** BINUNICODE s. */
export const U = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.alloc(5);
  h[0] = OP.BINUNICODE;
  h.writeUInt32LE(b.length, 1);
  return Buffer.concat([h, b]);
};
/** GLOBAL module.name. */
export const G = (module: string, name: string): Buffer => bytes(OP.GLOBAL, `${module}\n${name}\n`);
/** LONG_BINPUT / LONG_BINGET i. */
export const put = (i: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = OP.LONG_BINPUT;
  b.writeUInt32LE(i, 1);
  return b;
};
export const get = (i: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = OP.LONG_BINGET;
  b.writeUInt32LE(i, 1);
  return b;
};
/** An int: BININT1 or BININT (4 bytes). */
export const I = (v: number): Buffer => {
  if (v >= 0 && v < 256) return bytes(OP.BININT1, v);
  if (v < -(2 ** 31) || v >= 2 ** 31) {
    const b = Buffer.alloc(10);
    b[0] = 0x8a; // LONG1, 8 bytes
    b[1] = 8;
    b.writeBigInt64LE(BigInt(v), 2);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0x4a;
  b.writeInt32LE(v, 1);
  return b;
};
const intTuple = (xs: number[]): Buffer => bytes(OP.MARK, ...xs.map(I), OP.TUPLE);

/** `_rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`. */
export function tensorOp(key: string, numel: number, size: number[], stride: number[], storage = 'FloatStorage', offset = 0): Buffer {
  return bytes(
    G('torch._utils', '_rebuild_tensor_v2'),
    OP.MARK,
    OP.MARK,
    U('storage'),
    G('torch', storage),
    U(key),
    U('cpu'),
    I(numel),
    OP.TUPLE,
    OP.BINPERSID,
    I(offset),
    intTuple(size),
    intTuple(stride),
    OP.NEWFALSE,
    G('collections', 'OrderedDict'),
    OP.EMPTY_TUPLE,
    OP.REDUCE,
    OP.TUPLE,
    OP.REDUCE,
  );
}

/** A protocol-2 pickle of a dict built from `items` (each: key, then value opcodes). */
export function dictPickle(items: Array<[string, Uint8Array]>): Buffer {
  return bytes(OP.PROTO, 2, OP.EMPTY_DICT, ...items.flatMap(([k, v]) => [U(k), v, OP.SETITEM]), OP.STOP);
}

/** A torch.save zip archive around `pkl` and storage entries. */
export function torchZip(pkl: Uint8Array, storages: Array<[string, Uint8Array]> = [], deflate = false): Buffer {
  return buildZip([
    { name: 'archive/data.pkl', data: pkl, deflate },
    ...storages.map(([k, data]) => ({ name: `archive/data/${k}`, data, deflate })),
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}

/** A value referencing one subtree twice per level: 2^levels leaves once expanded, a few bytes each level. */
export function doublingValue(levels: number): Buffer {
  const parts: Buffer[] = [bytes(OP.NONE), put(0)];
  for (let k = 0; k < levels; k++) parts.push(get(k), bytes(OP.TUPLE2), put(k + 1));
  return Buffer.concat(parts);
}

const f32 = (xs: number[]) => Float32Array.from(xs);

/** A small BERT-ish state_dict: two float tensors and an int buffer. */
export function smallStateDict(): Map<string, { shape: number[]; data: Float32Array | Int32Array }> {
  return new Map<string, { shape: number[]; data: Float32Array | Int32Array }>([
    ['embeddings.word_embeddings.weight', { shape: [4, 3], data: f32([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) }],
    ['embeddings.LayerNorm.weight', { shape: [3], data: f32([1, 1, 1]) }],
    ['embeddings.position_ids', { shape: [1, 4], data: Int32Array.from([0, 1, 2, 3]) }],
  ]);
}

export const validSafetensors = (): Uint8Array => encodeSafetensors(smallStateDict(), { format: 'pt' });
export const validTorchZip = (): Uint8Array => Buffer.concat(encodeTorchCheckpoint(smallStateDict()));
/** A GAN checkpoint's shape: a dict of state_dicts and plain values. */
export const validGan = (): Uint8Array =>
  Buffer.concat(
    encodeTorchSave(
      torchDict([
        ['generator', torchDict([['w', { shape: [2, 2], data: f32([1, 2, 3, 4]) }]], 'OrderedDict')],
        ['discriminator', torchDict([['b', { shape: [2], data: f32([5, 6]) }]], 'OrderedDict')],
        [
          'biofeg',
          torchDict([
            ['meta', '{"format":"x"}'],
            ['epoch', 3],
            ['lr', 0.5],
            ['done', true],
            ['none', null],
          ]),
        ],
      ]),
    ),
  );
/** A torch zip whose storages are deflated (torch writes them stored; a re-zipped file may not). */
export const deflatedTorchZip = (): Uint8Array => {
  const sd = smallStateDict();
  const items: Array<[string, Uint8Array]> = [];
  const storages: Array<[string, Uint8Array]> = [];
  let k = 0;
  for (const [name, t] of sd) {
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    items.push([
      name,
      tensorOp(String(k), t.data.length, t.shape, strides, t.data instanceof Float32Array ? 'FloatStorage' : 'IntStorage'),
    ]);
    storages.push([String(k++), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
  }
  return torchZip(dictPickle(items), storages, true);
};

export const validJsonl = (): string =>
  ['{"text": "Breast cancer is common."}', '', '{"text": "Sjögren syndrome \\u00e9"}', '{"text": "ab [unused0] cd"}'].join('\n') + '\n';

export const validPubtator = (): string =>
  [
    '100|t|Asthma in children',
    '100|a|Asthma attacks and breast cancer.',
    '100\t0\t6\tAsthma\tDisease\tD001249',
    '100\t19\t25\tAsthma\tDisease\tMESH:D001249',
    '100\t38\t51\tbreast cancer\tDisease\tD001943|D009369',
    '',
    '200|t|Fever',
    '200|a|',
    '200\t0\t5\tFever\tDisease\t-1',
    '',
  ].join('\n');

export const validMedic = (): string =>
  ['D001249||Asthma|Asthmas', 'D001943|OMIM:1||Breast Neoplasms|Breast cancer', 'D005334||Fever'].join('\n') + '\n';
export const validCtd = (): string =>
  ['# CTD', 'Asthma\tMESH:D001249\t\tA disease.\t\t\t\tAsthmas\t', 'Fever\tMESH:D005334\tOMIM:2\t\t\t\t\tPyrexia|Hyperthermia\t'].join(
    '\n',
  ) + '\n';
export const gz = (s: string | Uint8Array): Buffer => zlib.gzipSync(typeof s === 'string' ? Buffer.from(s) : s);

// ------------------------------------------------------------------------------------------
// Mutations

const INTERESTING_U32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

type Mut = (b: Buffer) => Buffer;

/** One byte-level mutation of a binary input. */
export function binaryMutation(): fc.Arbitrary<Mut> {
  const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(
      ([p, v]): Mut =>
        (b) => {
          const c = Buffer.from(b);
          if (c.length) c[Math.floor(p * c.length)] = v;
          return c;
        },
    ),
    fc.tuple(at, fc.integer({ min: 0, max: 7 })).map(
      ([p, bit]): Mut =>
        (b) => {
          const c = Buffer.from(b);
          if (c.length) c[Math.floor(p * c.length)]! ^= 1 << bit;
          return c;
        },
    ),
    fc.tuple(at, fc.constantFrom(...INTERESTING_U32)).map(
      ([p, v]): Mut =>
        (b) => {
          const c = Buffer.from(b);
          const i = Math.floor(p * Math.max(0, c.length - 4));
          if (c.length >= 4) c.writeUInt32LE(v >>> 0, i);
          return c;
        },
    ),
    fc.tuple(at, fc.constantFrom(0n, 1n, 0xffffffffn, 1n << 32n, 1n << 40n, 1n << 62n, (1n << 64n) - 1n)).map(
      ([p, v]): Mut =>
        (b) => {
          const c = Buffer.from(b);
          if (c.length >= 8) c.writeBigUInt64LE(v, Math.floor(p * (c.length - 8)));
          return c;
        },
    ),
    at.map(
      (p): Mut =>
        (b) =>
          b.subarray(0, Math.floor(p * b.length)),
    ),
    fc.tuple(at, at).map(
      ([p, q]): Mut =>
        (b) => {
          const i = Math.floor(p * b.length);
          const j = i + Math.floor(q * (b.length - i) * 0.25);
          return Buffer.concat([b.subarray(0, i), b.subarray(j)]);
        },
    ),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(
      ([p, ins]): Mut =>
        (b) => {
          const i = Math.floor(p * b.length);
          return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
        },
    ),
    fc.tuple(at, at, fc.integer({ min: 1, max: 64 })).map(
      ([p, q, n]): Mut =>
        (b) => {
          // Repeat a slice (a cheap way to grow structures: more opcodes, more entries).
          const i = Math.floor(p * b.length);
          const len = Math.max(1, Math.floor(q * Math.min(64, b.length - i)));
          const s = b.subarray(i, i + len);
          return Buffer.concat([b.subarray(0, i + len), ...Array.from({ length: n }, () => s), b.subarray(i + len)]);
        },
    ),
  );
}

/** 1 to 4 mutations in a row. */
export function mutated(base: () => Uint8Array): fc.Arbitrary<Buffer> {
  return fc.array(binaryMutation(), { minLength: 1, maxLength: 4 }).map((ms) => ms.reduce<Buffer>((b, m) => m(b), Buffer.from(base())));
}

/** Pieces a pickle fuzz splices in: hostile and ordinary opcode runs. */
export function pickleSnippet(): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.constantFrom(
      bytes(OP.NONE),
      bytes(OP.MARK),
      bytes(OP.EMPTY_LIST, OP.MARK, OP.NONE, OP.NONE, OP.APPENDS),
      bytes(OP.EMPTY_DICT),
      bytes(OP.TUPLE2),
      bytes(OP.SETITEMS),
      bytes(OP.MEMOIZE),
      put(0),
      get(0),
      put(0xffffffff),
      get(12345),
      doublingValue(6),
      G('os', 'system'),
      G('collections', 'OrderedDict'),
      bytes(OP.EMPTY_TUPLE, OP.REDUCE),
      U('x'.repeat(40)),
      tensorOp('0', 4, [2, 2], [2, 1]),
      tensorOp('0', 1, [1 << 15, 1 << 15], [0, 0]),
      tensorOp('9', 2 ** 40, [4], [1]),
      bytes(0x8a, 8, [0, 0, 0, 0, 0, 0, 0, 0x80]), // LONG1 -2^63
      bytes(0x95, [8, 0, 0, 0, 0, 0, 0, 0]), // FRAME
    ),
    fc
      .tuple(fc.constantFrom(OP.NONE, OP.MARK, OP.EMPTY_LIST, OP.EMPTY_TUPLE), fc.integer({ min: 1, max: 3000 }))
      .map(([op, n]) => Buffer.alloc(n, op)),
    // Rarer, larger hostile pieces: exponential expansion, a huge APPENDS, many memo entries.
    fc.integer({ min: 16, max: 40 }).map((levels) => doublingValue(levels)),
    fc
      .integer({ min: 200_000, max: 700_000 })
      .map((n) => Buffer.concat([bytes(OP.EMPTY_LIST, OP.MARK), Buffer.alloc(n, OP.NONE), bytes(OP.APPENDS)])),
    fc.integer({ min: 1000, max: 50_000 }).map((n) => Buffer.concat(Array.from({ length: n }, (_, i) => put(i)))),
  );
}

/** A pickle with snippets spliced in at random places (after the PROTO). */
export function mutatedPickle(base: Uint8Array): fc.Arbitrary<Buffer> {
  return fc
    .array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), pickleSnippet()), { minLength: 1, maxLength: 3 })
    .map((ins) => {
      let b: Buffer = Buffer.from(base);
      for (const [p, s] of ins) {
        const i = 2 + Math.floor(p * Math.max(0, b.length - 2));
        b = Buffer.concat([b.subarray(0, i), s, b.subarray(i)]);
      }
      return b;
    });
}

/** Text-level mutations: invalid UTF-8, BOMs, CR, NUL, long lines, JSON damage. */
export function mutatedText(base: () => string): fc.Arbitrary<Buffer> {
  const piece = fc.oneof(
    fc.constantFrom(
      Buffer.from([0xff]),
      Buffer.from([0xc3]),
      Buffer.from([0xed, 0xa0, 0x80]), // a surrogate
      Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('\r'),
      Buffer.from('\n'),
      Buffer.from('\r\n\r\n'),
      Buffer.from('\0'),
      Buffer.from('\t'),
      Buffer.from('|'),
      Buffer.from('||'),
      Buffer.from('"'),
      Buffer.from('{'),
      Buffer.from('}'),
      Buffer.from('-1'),
      Buffer.from('99999999999999999999'),
      Buffer.from('\\ud800'),
      Buffer.from('[unused0]'),
      Buffer.from('é'),
      Buffer.from('𠀀'),
    ),
    fc
      .tuple(fc.constantFrom('a', ' ', 'x ', '\t', '|', 'é'), fc.integer({ min: 100, max: 20000 }))
      .map(([s, n]) => Buffer.from(s.repeat(n))),
    fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)),
  );
  const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
  const op = fc.oneof(
    fc.tuple(at, piece).map(([p, s]) => (b: Buffer) => {
      const i = Math.floor(p * b.length);
      return Buffer.concat([b.subarray(0, i), s, b.subarray(i)]);
    }),
    fc.tuple(at, at).map(([p, q]) => (b: Buffer) => {
      const i = Math.floor(p * b.length);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + Math.floor(q * 8) + 1)]);
    }),
    at.map((p) => (b: Buffer) => b.subarray(0, Math.floor(p * b.length))),
  );
  return fc.array(op, { minLength: 0, maxLength: 4 }).map((ops) => ops.reduce<Buffer>((b, f) => f(b), Buffer.from(base())));
}
