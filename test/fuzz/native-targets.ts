// Fuzz targets of the native entry points (issue 16, "What to build" 2): every op of the op list
// (native/ops.h, read here so a new op is fuzzed without a change to this file) on the host
// backends, topkAsync, the Tensor class (constructor, view, upload, download, copyFrom, dispose)
// and BertModel (construction and forward). A case is a plain description (shown as JSON when it
// fails); running it builds the tensors and makes the calls. It passes when every call returns or
// throws a BiofegError (ArgumentError, DeviceUnavailableError, OutOfMemoryError, ...); a crash,
// a hang or any other throw fails it. Sizes stay small unless they are meant to be refused: a
// shape that would allocate more than 2^22 elements gets a dimension past the limit instead, so a
// case never holds more than a few MiB.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { engine } from '../../src/engine.js';
import { type DeviceName, type DType, native, type NativeTensor } from '../../src/native.js';
import { nativeBertClass } from '../../src/models/bert-native.js';
import type { Target } from './targets.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The op list's JS names and TypeScript parameters, from native/ops.h. */
export function opList(): { js: string; params: { name: string; type: string }[] }[] {
  const text = readFileSync(join(ROOT, 'native', 'ops.h'), 'utf8');
  const src = text.slice(text.indexOf('#define BIOFEG_OPS(X)')).replace(/\\\s*\n/g, ' ');
  const out: { js: string; params: { name: string; type: string }[] }[] = [];
  for (const m of src.matchAll(/X\(\s*\w+\s*,\s*"(\w+)"\s*,\s*\w+\s*,\s*void\s*\((?:[^()]|\([^()]*\))*\)\s*,\s*"\(([^"]*)\)"\s*\)/g)) {
    const params = m[2]!.split(',').map((p) => {
      const [name, type] = p.split(':').map((s) => s.trim());
      return { name: name!.replace('?', ''), type: type! };
    });
    out.push({ js: m[1]!, params });
  }
  return out;
}

const OPTION_KEYS: Record<string, string[]> = {
  GemmOptions: ['transA', 'transB', 'alpha', 'beta', 'bias', 'gelu', 'pre', 'bCols'],
  AttentionOptions: ['scale', 'dropout', 'seed', 'offset'],
  AdamWOptions: ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'step', 'biasCorrection'],
  TopkOptions: ['block'],
  MsLossOptions: ['alpha', 'beta', 'base', 'margin', 'scale'],
};

// ---- Case descriptions ---------------------------------------------------------------------

/** A value that is not a tensor: numbers of every awkward kind, and wrong types. */
type Scalar = number | bigint | string | boolean | null | undefined | { obj: true } | { array: number[] };

interface TensorDesc {
  t: 'tensor';
  device: DeviceName;
  dtype: DType;
  shape: number[];
  /** Contents: a seed for small values, with an occasional hostile one. */
  fill: number;
  /** Made as a view at `offset` into a 1-D tensor just long enough (`spare` more elements). */
  view?: { offset: number; spare: number };
  disposed?: boolean;
  /** i32 contents mostly 0 and 1 (a mask), else mostly small ids */
  bits?: boolean;
}
type Arg = TensorDesc | { t: 'same'; index: number } | { t: 'value'; v: Scalar } | { t: 'options'; entries: [string, Arg][] };

export interface OpCase {
  backend: 'cpu' | 'ref';
  op: string;
  args: Arg[];
}

const HOSTILE_NUMBERS = [Number.NaN, Infinity, -Infinity, -1, -0, 0.5, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 62, 2 ** 64, 1e300, -1e300];
const hostileNumber = fc.constantFrom(...HOSTILE_NUMBERS);
const scalar: fc.Arbitrary<Scalar> = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.integer({ min: -3, max: 16 }), fc.double({ min: -4, max: 4, noNaN: true })) },
  { weight: 3, arbitrary: hostileNumber },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Scalar>(1n, -1n, 2n ** 64n, '2', true, false, null, undefined, { obj: true }, { array: [1, 2] }),
  },
);

// Dimensions: small ones (so shapes match often enough to reach the kernels), zeros, and the
// odd hostile one.
const smallDim = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 1, arbitrary: fc.constant(0) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(8, 16),
  },
);
const dim = fc.oneof({ weight: 20, arbitrary: smallDim }, { weight: 1, arbitrary: hostileNumber });

/** A shape built from a case's pool of dims: a prefix, a suffix, one dim, or picks. */
const shapeFrom = (pool: number[]): fc.Arbitrary<number[]> =>
  fc.oneof(
    fc.integer({ min: 0, max: pool.length }).map((r) => pool.slice(0, r)),
    fc.integer({ min: 0, max: pool.length }).map((r) => pool.slice(r)),
    fc.nat({ max: pool.length - 1 }).map((i) => [pool[i]!]),
    fc.array(fc.nat({ max: pool.length - 1 }), { maxLength: 6 }).map((ix) => ix.map((i) => pool[i]!)),
    fc.array(dim, { maxLength: 4 }),
  );

// The shapes each op's tensors have in a well-formed call, from the dims pool [a, b, c, d, e]:
// most cases start from these (so they reach the validators and kernels) and differ elsewhere.
type Dims = (p: number[]) => number[];
const ab: Dims = ([a, b]) => [a!, b!];
const a1: Dims = ([a]) => [a!];
const b1: Dims = ([, b]) => [b!];
const one: Dims = () => [1];
const qkv: Dims = ([a, b, c, d]) => [a!, b!, 3, c!, d!];
const bthd: Dims = ([a, b, c, d]) => [a!, b!, c!, d!];
const TEMPLATES: Record<string, Record<string, Dims>> = {
  gemm: { A: ab, B: ([, b, c]) => [b!, c!], C: ([a, , c]) => [a!, c!] },
  biasGrad: { dy: ab, db: b1 },
  concat: { a: ab, b: ([a, , c]) => [a!, c!], y: ([a, b, c]) => [a!, b! + c!] },
  concatBackward: { dy: ([a, b, c]) => [a!, b! + c!], da: ab, db: ([a, , c]) => [a!, c!] },
  rowAxpy: { a: a1, x: ab, y: ab },
  layernorm: { x: ab, w: b1, bias: b1, y: ab, mean: a1, rstd: a1 },
  layernormBackward: { dy: ab, x: ab, w: b1, mean: a1, rstd: a1, dx: ab, dw: b1, db: b1 },
  embedding: { ids: a1, table: ([, b, c]) => [c!, b!], y: ab },
  embeddingBackward: { ids: a1, dy: ab, dtable: ([, b, c]) => [c!, b!] },
  crossEntropy: { logits: ab, targets: a1, loss: a1 },
  crossEntropyBackward: { logits: ab, targets: a1, dloss: a1, dlogits: ab },
  mse: { a: ab, b: ab, out: one },
  mseBackward: { a: ab, b: ab, da: ab },
  gradPenalty: { g: ab, u: ab, norms: a1 },
  l2Normalize: { x: ab, y: ab, norms: a1 },
  l2NormalizeBackward: { y: ab, norms: a1, dy: ab, dx: ab },
  multiSimilarityLoss: { sim: ([a]) => [a!, a!], labels: a1, loss: a1, dsim: ([a]) => [a!, a!] },
  attention: { qkv, mask: ab, out: bthd, lse: ([a, b, c]) => [a!, c!, b!] },
  attentionBackward: { qkv, mask: ab, out: bthd, dout: bthd, lse: ([a, b, c]) => [a!, c!, b!], dqkv: qkv },
  sumsq: { x: ab, out: one },
  topk: {
    queries: ab,
    pool: ([, b, c, , e]) => [Math.max(c!, e!), b!],
    scores: ([a, , , , e]) => [a!, e!],
    index: ([a, , , , e]) => [a!, e!],
  },
};
const INT_PARAMS = new Set(['ids', 'targets', 'mask', 'index']);
const BOOL_OPTIONS = new Set(['transA', 'transB', 'gelu', 'biasCorrection']);
const TENSOR_OPTIONS = new Set(['bias', 'pre']);
const INT_OPTIONS = new Set(['seed', 'offset', 'step', 'block', 'bCols']);

const tensorDesc = (pool: number[], floatBias = true, shape?: number[], ints = false): fc.Arbitrary<TensorDesc> =>
  fc
    .record(
      {
        t: fc.constant<'tensor'>('tensor'),
        device: fc.oneof(
          { weight: 80, arbitrary: fc.constant<DeviceName>('cpu') },
          { weight: 1, arbitrary: fc.constant<DeviceName>('cuda') },
        ),
        dtype: ints
          ? fc.oneof({ weight: 12, arbitrary: fc.constant<DType>('i32') }, { weight: 1, arbitrary: fc.constantFrom<DType>('f32', 'bf16') })
          : floatBias
            ? fc.oneof(
                { weight: 40, arbitrary: fc.constant<DType>('f32') },
                { weight: 2, arbitrary: fc.constant<DType>('bf16') },
                {
                  weight: 1,
                  arbitrary: fc.constant<DType>('i32'),
                },
              )
            : fc.constantFrom<DType>('f32', 'i32', 'bf16'),
        shape: shape ? fc.oneof({ weight: 24, arbitrary: fc.constant(shape) }, { weight: 1, arbitrary: shapeFrom(pool) }) : shapeFrom(pool),
        fill: fc.nat(),
        view: fc.oneof(
          { weight: 12, arbitrary: fc.constant(undefined) },
          {
            weight: 1,
            arbitrary: fc.record({
              offset: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: 8 }) }, { weight: 1, arbitrary: hostileNumber }),
              spare: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 3 }) }),
            }),
          },
        ),
        disposed: fc.oneof({ weight: 100, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(true) }),
      },
      { requiredKeys: ['t', 'device', 'dtype', 'shape', 'fill'] },
    )
    .map((d) => {
      const out: TensorDesc = { t: 'tensor', device: d.device, dtype: d.dtype, shape: d.shape, fill: d.fill };
      if (d.view) out.view = d.view;
      if (d.disposed) out.disposed = true;
      return out;
    });

const argFor = (op: string, name: string, type: string, pool: number[], index: number): fc.Arbitrary<Arg> => {
  const shape = (TEMPLATES[op === 'topkAsync' ? 'topk' : op]?.[name] ?? ab)(pool);
  const desc = tensorDesc(pool, true, shape, INT_PARAMS.has(name)).map((d) => (name === 'mask' ? { ...d, bits: true } : d));
  const tensorish = fc.oneof(
    { weight: 40, arbitrary: desc },
    // The same tensor as an earlier argument (in-place and aliased calls).
    ...(index > 0 ? [{ weight: 2, arbitrary: fc.nat({ max: index - 1 }).map((i): Arg => ({ t: 'same', index: i })) }] : []),
    { weight: 1, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
  );
  if (type === 'T') return tensorish;
  if (type === 'T | null')
    return fc.oneof({ weight: 3, arbitrary: tensorish }, { weight: 1, arbitrary: fc.constant<Arg>({ t: 'value', v: null }) });
  if (name === 'k')
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant<Arg>({ t: 'value', v: pool[4]! }) },
      { weight: 1, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
    );
  if (type === 'Seed')
    return fc.oneof(
      { weight: 6, arbitrary: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map((v): Arg => ({ t: 'value', v })) },
      { weight: 2, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
    );
  if (type === 'number')
    return fc.oneof(
      // Mostly what a well-formed call passes (probabilities, eps, seeds, slopes), then anything.
      {
        weight: 6,
        arbitrary: fc
          .oneof(fc.double({ min: 1e-6, max: 0.9, noNaN: true }), fc.integer({ min: 0, max: 8 }))
          .map((v): Arg => ({ t: 'value', v })),
      },
      { weight: 4, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
      { weight: 1, arbitrary: tensorDesc(pool) },
    );
  const keys = OPTION_KEYS[type];
  if (!keys) throw new Error(`native fuzz: no generator for parameter type '${type}' (native/ops.h); add it to OPTION_KEYS`);
  const plausible = fc.oneof(fc.double({ min: 1e-6, max: 0.9, noNaN: true }), fc.integer({ min: 1, max: 8 }));
  const optionValue = (k: string): fc.Arbitrary<Arg> =>
    fc.oneof(
      {
        weight: 8,
        arbitrary: BOOL_OPTIONS.has(k)
          ? fc.boolean().map((v): Arg => ({ t: 'value', v }))
          : TENSOR_OPTIONS.has(k)
            ? fc.oneof(tensorDesc(pool, true, k === 'bias' ? [pool[2]!] : ab(pool)), fc.constant<Arg>({ t: 'value', v: null }))
            : (INT_OPTIONS.has(k) ? fc.nat({ max: 1000 }) : plausible).map((v): Arg => ({ t: 'value', v })),
      },
      { weight: 2, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
    );
  const entry = fc
    .oneof({ weight: 20, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.constant('unknownKey') })
    .chain((k) => optionValue(k).map((v): [string, Arg] => [k, v]));
  return fc.oneof(
    { weight: 12, arbitrary: fc.array(entry, { maxLength: 3 }).map((entries): Arg => ({ t: 'options', entries })) },
    { weight: 1, arbitrary: scalar.map((v): Arg => ({ t: 'value', v })) },
  );
};

const OPS = opList();

export const opCase: fc.Arbitrary<OpCase> = fc
  .tuple(
    fc.constantFrom<'cpu' | 'ref'>('cpu', 'ref'),
    fc.constantFrom(...OPS.map((o) => o.js), 'topkAsync'),
    // A quarter of the pools have a zero and a huge dim: tensors shaped from them hold no
    // elements but span 2^38 rows (a kernel must not loop over them), or are refused.
    fc.oneof(
      { weight: 3, arbitrary: fc.array(smallDim, { minLength: 5, maxLength: 5 }) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.array(smallDim, { minLength: 5, maxLength: 5 }),
            fc.nat({ max: 4 }),
            fc.nat({ max: 3 }),
            fc.constantFrom(2 ** 20, 2 ** 38),
          )
          .map(([p, i, j, huge]) => {
            const q = [...p];
            q[i] = 0;
            q[(i + 1 + j) % 5] = huge;
            return q;
          }),
      },
    ),
    fc.oneof({ weight: 14, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1) }),
  )
  .chain(([backend, op, pool, extra]) => {
    const params = (OPS.find((o) => o.js === (op === 'topkAsync' ? 'topk' : op)) ?? OPS[0]!).params;
    // Now and then one argument too few or one too many.
    const n = Math.max(0, params.length + extra);
    const arbs = Array.from({ length: n }, (_, i) => {
      const p = params[Math.min(i, params.length - 1)]!;
      return argFor(op, p.name, p.type, pool, i);
    });
    return fc.tuple(...arbs).map((args): OpCase => ({ backend, op, args }));
  });

/**
 * Every op called well-formed (the template shapes, f32, i32 where ints go, no options) on every
 * pool with a zero at one place and 2^36 at another: tensors that hold nothing but span 2^36 rows.
 */
export function degenerateCases(): OpCase[] {
  const out: OpCase[] = [];
  for (let i = 0; i < 5; i++)
    for (let j = 0; j < 5; j++) {
      if (i === j) continue;
      // Small dims elsewhere, so the huge one stays under 2^40 elements in every template shape.
      const pool = [1, 2, 1, 2, 1];
      pool[i] = 0;
      pool[j] = 2 ** 36;
      for (const backend of ['cpu', 'ref'] as const)
        for (const o of [...OPS, { js: 'topkAsync', params: OPS.find((x) => x.js === 'topk')!.params }]) {
          const t = TEMPLATES[o.js === 'topkAsync' ? 'topk' : o.js] ?? {};
          const args = o.params.map((p): Arg => {
            if (p.type === 'T' || p.type === 'T | null')
              return { t: 'tensor', device: 'cpu', dtype: INT_PARAMS.has(p.name) ? 'i32' : 'f32', shape: (t[p.name] ?? ab)(pool), fill: 1 };
            if (p.name === 'k') return { t: 'value', v: pool[4]! };
            return p.type === 'number' || p.type === 'Seed'
              ? { t: 'value', v: p.name === 'eps' ? 1e-5 : 0 }
              : { t: 'options', entries: [] };
          });
          out.push({ backend, op: o.js, args });
        }
    }
  return out;
}

// ---- Running a case ------------------------------------------------------------------------

const MAX_ALLOC = 2 ** 22; // elements a case may really allocate
const isSize = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 2 ** 53;

/** A shape that would allocate more than MAX_ALLOC elements gets a dimension past 2^40 instead. */
function bounded(shape: number[]): number[] {
  if (!shape.every(isSize) || shape.includes(0) || shape.length > 8) return shape;
  const n = shape.reduce((a, b) => a * b, 1);
  if (n <= MAX_ALLOC || n > 2 ** 40) return shape;
  return [...shape.slice(0, -1), 2 ** 41];
}

function contents(d: TensorDesc, n: number): Float32Array | Int32Array {
  let s = d.fill >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  if (d.dtype === 'i32') {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = next();
      // ids and targets from -2 (a negative target ignores its row) to 5, masks mostly 0/1; some out of range
      a[i] = r < 0.02 ? [2 ** 31 - 1, -(2 ** 31), 1e6][i % 3]! : d.bits ? (r < 0.3 ? 0 : 1) : Math.floor(r * 8) - 2;
    }
    return a;
  }
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    a[i] = r < 0.01 ? [Number.NaN, Infinity, -Infinity, 3e38][i % 4]! : (r - 0.5) * 4;
  }
  return a;
}

/** Builds a tensor (or throws the engine's typed error for a description it refuses). */
function build(d: TensorDesc): NativeTensor {
  const shape = bounded(d.shape);
  let out: NativeTensor;
  if (d.view) {
    const n = shape.every(isSize) ? shape.reduce((a, b) => a * b, 1) : 1;
    const len = Math.max(0, Math.min(MAX_ALLOC, (isSize(d.view.offset) ? Math.min(d.view.offset, 64) : 0) + n + d.view.spare));
    const base = new (native().Tensor)(d.device, d.dtype, [len]);
    base.upload(contents(d, len));
    out = base.view(d.view.offset, shape);
  } else {
    out = new (native().Tensor)(d.device, d.dtype, shape);
    const n = out.shape.reduce((a, b) => a * b, 1);
    if (n <= MAX_ALLOC) out.upload(contents(d, n));
  }
  if (d.disposed) out.dispose();
  return out;
}

function value(v: Scalar): unknown {
  if (v !== null && typeof v === 'object') return 'obj' in v ? { toString: () => 'an object' } : v.array;
  return v;
}

function materialise(a: Arg, earlier: unknown[]): unknown {
  switch (a.t) {
    case 'tensor':
      return build(a);
    case 'same':
      return earlier[a.index];
    case 'value':
      return value(a.v);
    case 'options': {
      const o: Record<string, unknown> = {};
      for (const [k, v] of a.entries) o[k] = materialise(v, earlier);
      return o;
    }
  }
}

export async function runOpCase(c: OpCase): Promise<void> {
  const made: unknown[] = [];
  try {
    for (const a of c.args) made.push(materialise(a, made));
    const e = engine(c.backend) as unknown as Record<string, (...a: unknown[]) => unknown>;
    const f = e[c.op];
    if (typeof f !== 'function') throw new Error(`native fuzz: engine has no op ${c.op}`);
    await f(...made);
  } finally {
    for (const t of made) if (t instanceof native().Tensor) (t as NativeTensor).dispose();
  }
}

// ---- The Tensor class ----------------------------------------------------------------------

type TensorStep =
  | { s: 'view'; offset: Scalar; shape: (number | Scalar)[] }
  | { s: 'upload'; kind: string; length: number; shared: boolean; offset: number }
  | { s: 'download' }
  | { s: 'copyFrom'; from: TensorDesc }
  | { s: 'dispose' };

export interface TensorCase {
  create: { device: Scalar; dtype: Scalar; shape: (number | Scalar)[] | Scalar };
  steps: TensorStep[];
}

const ARRAY_KINDS = ['Float32Array', 'Int32Array', 'Float64Array', 'Uint8Array', 'BigInt64Array', 'Array'] as const;

export const tensorCase: fc.Arbitrary<TensorCase> = fc.array(smallDim, { minLength: 4, maxLength: 4 }).chain((pool) =>
  fc.record({
    create: fc.record({
      device: fc.oneof(
        { weight: 20, arbitrary: fc.constant<Scalar>('cpu') },
        { weight: 1, arbitrary: fc.constantFrom<Scalar>('cuda', 'tpu', 1, null) },
      ),
      dtype: fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom<Scalar>('f32', 'bf16', 'i32') },
        { weight: 1, arbitrary: fc.constantFrom<Scalar>('f16', '', 3) },
      ),
      shape: fc.oneof(
        { weight: 10, arbitrary: shapeFrom(pool) },
        { weight: 2, arbitrary: fc.array(fc.oneof(dim, scalar), { maxLength: 9 }) },
        { weight: 1, arbitrary: scalar },
      ),
    }),
    steps: fc.array(
      fc.oneof(
        fc.record({
          s: fc.constant<'view'>('view'),
          offset: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: 20 }) }, { weight: 2, arbitrary: scalar }),
          shape: fc.oneof(
            { weight: 6, arbitrary: shapeFrom(pool) },
            { weight: 1, arbitrary: fc.array(fc.oneof(dim, scalar), { maxLength: 9 }) },
          ),
        }),
        fc.record({
          s: fc.constant<'upload'>('upload'),
          kind: fc.constantFrom(...ARRAY_KINDS),
          length: fc.oneof(fc.nat({ max: 130 }), fc.constant(-1)), // -1: the tensor's element count
          shared: fc.boolean(),
          offset: fc.nat({ max: 3 }),
        }),
        fc.constant<TensorStep>({ s: 'download' }),
        tensorDesc(pool, false).map((from): TensorStep => ({ s: 'copyFrom', from })),
        fc.constant<TensorStep>({ s: 'dispose' }),
      ),
      { maxLength: 5 },
    ),
  }),
);

function typedArray(kind: string, length: number, shared: boolean, offset: number): unknown {
  if (kind === 'Array') return Array.from({ length }, (_, i) => i);
  const size = kind === 'Float64Array' || kind === 'BigInt64Array' ? 8 : kind === 'Uint8Array' ? 1 : 4;
  const bytes = size * (length + offset);
  const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const at = offset * size;
  switch (kind) {
    case 'Float32Array':
      return new Float32Array(buf, at, length);
    case 'Int32Array':
      return new Int32Array(buf, at, length);
    case 'Float64Array':
      return new Float64Array(buf, at, length);
    case 'Uint8Array':
      return new Uint8Array(buf, at, length);
    default:
      return new BigInt64Array(buf, at, length);
  }
}

export function runTensorCase(c: TensorCase): void {
  const shape = Array.isArray(c.create.shape) ? bounded(c.create.shape.map((x) => value(x as Scalar)) as number[]) : value(c.create.shape);
  const Ctor = native().Tensor as unknown as new (...a: unknown[]) => NativeTensor;
  const live: NativeTensor[] = [];
  try {
    let t = new Ctor(value(c.create.device), value(c.create.dtype), shape);
    live.push(t);
    for (const st of c.steps) {
      if (st.s === 'view') {
        t = t.view(value(st.offset) as number, st.shape.map((x) => value(x as Scalar)) as number[]);
        live.push(t);
      } else if (st.s === 'upload') {
        const n = t.disposed ? 0 : t.shape.reduce((a, b) => a * b, 1);
        const len = st.length < 0 ? n : st.length;
        if (len > MAX_ALLOC) continue;
        t.upload(typedArray(st.kind, len, st.shared, st.offset) as Float32Array);
      } else if (st.s === 'download') {
        if (!t.disposed && t.shape.reduce((a, b) => a * b, 1) > MAX_ALLOC) continue;
        t.download();
      } else if (st.s === 'copyFrom') {
        const src = build(st.from);
        live.push(src);
        t.copyFrom(src);
      } else t.dispose();
    }
  } finally {
    for (const x of live) x.dispose();
  }
}

// ---- BertModel -------------------------------------------------------------------------------

export interface BertCase {
  config: Record<string, Scalar>;
  device: Scalar;
  options: Scalar | { precision: Scalar };
  forward?: { batch: Scalar; seq: Scalar; ids: number; mask: boolean; types: boolean; clsOnly: Scalar };
}

const sizeField = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom<Scalar>(0, 2 ** 20, 2 ** 40) },
  {
    weight: 1,
    arbitrary: scalar,
  },
);

export const bertCase: fc.Arbitrary<BertCase> = fc.record(
  {
    config: fc.record({
      vocabSize: sizeField,
      hiddenSize: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Scalar>(4, 8) }, { weight: 1, arbitrary: sizeField }),
      numLayers: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Scalar>(1, 2) }, { weight: 1, arbitrary: sizeField }),
      numHeads: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Scalar>(1, 2) }, { weight: 1, arbitrary: sizeField }),
      intermediateSize: sizeField,
      maxPositions: sizeField,
      typeVocabSize: fc.oneof({ weight: 6, arbitrary: fc.constant<Scalar>(undefined) }, { weight: 1, arbitrary: sizeField }),
      layerNormEps: fc.oneof({ weight: 6, arbitrary: fc.constant<Scalar>(undefined) }, { weight: 1, arbitrary: scalar }),
      hiddenDropout: fc.oneof({ weight: 6, arbitrary: fc.constant<Scalar>(undefined) }, { weight: 1, arbitrary: scalar }),
    }),
    device: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom<Scalar>('cpu', 'ref') },
      { weight: 1, arbitrary: fc.constantFrom<Scalar>('cuda', 'auto', 'gpu', 3) },
    ),
    options: fc.oneof(
      { weight: 6, arbitrary: fc.constant<Scalar>(undefined) },
      { weight: 2, arbitrary: fc.record({ precision: fc.constantFrom<Scalar>('f32', 'bf16', 'f16', 1) }) },
      { weight: 1, arbitrary: scalar },
    ),
    forward: fc.record({
      batch: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: scalar }),
      seq: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 6 }) }, { weight: 1, arbitrary: scalar }),
      ids: fc.nat(),
      mask: fc.boolean(),
      types: fc.boolean(),
      clsOnly: fc.oneof(fc.boolean(), scalar),
    }),
  },
  { requiredKeys: ['config', 'device', 'options'] },
);

export function runBertCase(c: BertCase): void {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.config)) if (v !== undefined) config[k] = value(v);
  const Bert = nativeBertClass() as unknown as new (
    ...a: unknown[]
  ) => {
    forward(i: Record<string, unknown>): { cls: NativeTensor };
  };
  const opts =
    c.options !== null && typeof c.options === 'object' && 'precision' in c.options
      ? { precision: value(c.options.precision) }
      : value(c.options as Scalar);
  const m = c.options === undefined ? new Bert(config, value(c.device)) : new Bert(config, value(c.device), opts);
  if (!c.forward) return;
  const f = c.forward;
  const b = value(f.batch),
    s = value(f.seq);
  const n = isSize(b) && isSize(s) && b * s <= 64 ? b * s : 4;
  const ints = (hi: number) => Int32Array.from({ length: n }, (_, i) => ((f.ids * (i + 7)) % (hi + 3)) - 1);
  const input: Record<string, unknown> = {
    inputIds: ints(typeof config['vocabSize'] === 'number' ? config['vocabSize'] : 4),
    batch: b,
    seq: s,
  };
  if (f.mask) input['attentionMask'] = ints(1);
  if (f.types) input['tokenTypeIds'] = ints(1);
  if (f.clsOnly !== undefined) input['clsOnly'] = value(f.clsOnly);
  m.forward(input).cls.download();
}

// ---- The targets -----------------------------------------------------------------------------

/** JSON with the values JSON drops (NaN, infinities, -0, BigInt, undefined) spelled out. */
export function showCase(c: unknown): string {
  return JSON.stringify(c, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return Object.is(v, -0) ? '-0' : String(v);
    if (v === undefined) return 'undefined';
    return v;
  });
}

export const NATIVE_TARGETS: Target<unknown>[] = [
  { name: 'native-ops', runs: 1500, arb: opCase, run: (c: OpCase) => runOpCase(c), show: showCase },
  { name: 'native-tensor', runs: 500, arb: tensorCase, run: (c: TensorCase) => runTensorCase(c), show: showCase },
  { name: 'native-bert', runs: 150, budgetMs: 5000, arb: bertCase, run: (c: BertCase) => runBertCase(c), show: showCase },
];

/** Ops of the engine that the op list does not name (the op target calls them too). */
export const EXTRA_OPS = ['topkAsync'];
export const FUZZED_OPS = (): string[] => [...OPS.map((o) => o.js), ...EXTRA_OPS];
