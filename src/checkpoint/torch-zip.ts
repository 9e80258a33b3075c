/**
 * Reader for `pytorch_model.bin` files written by torch.save, without Python:
 *  - the zip format (torch >= 1.6): `<top>/data.pkl` (the pickled state_dict), `<top>/data/<key>`
 *    (raw little-endian storages), `<top>/version`, optionally `<top>/byteorder`; `<top>` varies;
 *  - the legacy format (torch < 1.6): magic-number, protocol and sys-info pickles, the state_dict
 *    pickle, a pickled list of storage keys, then each storage as u64 element count + raw bytes.
 *
 * The state_dict pickle is read by ./pickle.ts with the allowlist below, a subset of what
 * `torch.load(weights_only=True)` accepts. Tensors may be views (storage offset, any strides);
 * every tensor is returned contiguous and row-major, in its own array or in a range of an
 * ArrayBuffer that no other tensor's range overlaps.
 *
 * Limits: zip storages are read one at a time from the file (each storage must fit in one typed
 * array); a legacy-format file is read into memory whole (so it must fit in one Buffer, < 4 GiB).
 */
import { FileSource, MemorySource, decodeElements, type ByteSource } from './bytes.js';
import {
  checkExpected,
  checkOutputBudget,
  expectedStorageBytes,
  resolveLimits,
  type CheckpointLimits,
  type ReadOptions,
} from './limits.js';
import {
  PickleError,
  PyDict,
  PyGlobal,
  PyHost,
  PyList,
  PyTuple,
  describePy,
  unpickle,
  type PickleHooks,
  type PickleLimits,
  type PyValue,
} from './pickle.js';
import { CheckpointError, DTYPE_BYTES, numelOf, shapeString, type FileDType, type CheckpointTensor } from './types.js';
import { ZipReader } from './zip.js';

/** Legacy storage class names -> element type. */
const STORAGE_DTYPES: Readonly<Record<string, FileDType>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const REBUILD_TENSOR_V2 = 'torch._utils._rebuild_tensor_v2';
const REBUILD_TENSOR = 'torch._utils._rebuild_tensor';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_WITH_STATE = 'torch._utils._rebuild_parameter_with_state';
const ORDERED_DICT = 'collections.OrderedDict';

/** Every global a state_dict pickle may name; anything else is refused. */
export const TORCH_ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  ORDERED_DICT,
  REBUILD_TENSOR_V2,
  REBUILD_TENSOR,
  REBUILD_PARAMETER,
  REBUILD_PARAMETER_WITH_STATE,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

interface StorageRef {
  key: string;
  dtype: FileDType;
  /** Elements of the root storage (legacy views add `base`). */
  numel: number;
  /** Element offset into the root storage (legacy storage views only). */
  base: number;
}

interface TensorRef {
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

function intList(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative integers, got ${describePy(v)}`);
  }
  return v.items as number[];
}

function count(v: PyValue, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new Error(`${what} must be a non-negative integer, got ${describePy(v)}`);
  return v;
}

function emptyOrNone(v: PyValue | undefined): boolean {
  return v === undefined || v === null || (v instanceof PyDict && v.size === 0);
}

/** Pickle hooks shared by both formats; `storageFor` resolves a persistent id. */
function stateDictHooks(storageFor: (pid: PyTuple) => StorageRef): PickleHooks {
  const asTensor = (v: PyValue, what: string): TensorRef => {
    if (!(v instanceof PyHost) || v.tag !== 'tensor') throw new Error(`${what} must be a tensor, got ${describePy(v)}`);
    return v.value as TensorRef;
  };
  const rebuild = (args: readonly PyValue[], name: string): PyValue => {
    const [st, off, size, stride] = args;
    if (!(st instanceof PyHost) || st.tag !== 'storage')
      throw new Error(`${name}: first argument must be a storage, got ${describePy(st)}`);
    const shape = intList(size ?? null, `${name} size`);
    const strides = intList(stride ?? null, `${name} stride`);
    if (shape.length !== strides.length)
      throw new Error(`${name}: size ${shapeString(shape)} and stride ${shapeString(strides)} differ in rank`);
    const t: TensorRef = { storage: st.value as StorageRef, offset: count(off ?? null, `${name} storage offset`), shape, stride: strides };
    checkBounds(t);
    return new PyHost('tensor', t);
  };
  return {
    allowedGlobals: TORCH_ALLOWED_GLOBALS,
    persistentLoad(pid) {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage')
        throw new Error(`persistent id must be a ('storage', ...) tuple, got ${describePy(pid)}`);
      return new PyHost('storage', storageFor(pid));
    },
    reduce(fn, args) {
      switch (fn.path) {
        case ORDERED_DICT:
          if (args.length !== 0) throw new Error('OrderedDict is only accepted with no arguments');
          return new PyDict(true);
        case REBUILD_TENSOR_V2: {
          if (args.length !== 6 && args.length !== 7) throw new Error(`${fn.name} takes 6 or 7 arguments, got ${args.length}`);
          if (typeof args[4] !== 'boolean') throw new Error(`${fn.name}: requires_grad must be a bool`);
          if (!emptyOrNone(args[5])) throw new Error(`${fn.name}: backward hooks are not supported`);
          if (!emptyOrNone(args[6])) throw new Error(`${fn.name}: tensor metadata is not supported`);
          return rebuild(args, fn.name);
        }
        case REBUILD_TENSOR:
          if (args.length !== 4) throw new Error(`${fn.name} takes 4 arguments, got ${args.length}`);
          return rebuild(args, fn.name);
        case REBUILD_PARAMETER:
        case REBUILD_PARAMETER_WITH_STATE: {
          const n = fn.path === REBUILD_PARAMETER ? 3 : 4;
          if (args.length !== n) throw new Error(`${fn.name} takes ${n} arguments, got ${args.length}`);
          asTensor(args[0]!, `${fn.name} data`);
          if (!emptyOrNone(args[2])) throw new Error(`${fn.name}: backward hooks are not supported`);
          return args[0]!;
        }
        default:
          throw new Error(`${fn.path} cannot be called`);
      }
    },
    build(obj, state) {
      // OrderedDict state_dicts carry {'_metadata': ...}: kept as attributes, otherwise unused.
      if (obj instanceof PyDict && state instanceof PyDict) {
        obj.attrs = state;
        return obj;
      }
      throw new Error(`BUILD of ${describePy(obj)} with ${describePy(state)} is not supported`);
    },
  };
}

function checkBounds(t: TensorRef): void {
  if (t.shape.some((d) => d === 0)) return;
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  if (last >= t.storage.numel) {
    throw new Error(
      `tensor of size ${shapeString(t.shape)}, stride ${shapeString(t.stride)} at offset ${t.offset} reaches element ${last} of a ${t.storage.numel}-element storage`,
    );
  }
}

function storageType(v: PyValue | undefined): FileDType {
  if (!(v instanceof PyGlobal) || v.module !== 'torch' || !(v.name in STORAGE_DTYPES)) {
    throw new Error(`storage type must be a torch.<X>Storage class, got ${describePy(v)}`);
  }
  return STORAGE_DTYPES[v.name]!;
}

function storageKey(v: PyValue | undefined): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(v))
    throw new Error(`storage key must be a plain name, got ${describePy(v ?? null)}`);
  return v;
}

/** Register a storage, insisting that every mention of one key agrees on dtype and size. */
function registerStorage(known: Map<string, StorageRef>, ref: StorageRef): StorageRef {
  const prev = known.get(ref.key);
  if (!prev) {
    known.set(ref.key, ref);
    return ref;
  }
  if (prev.dtype !== ref.dtype || prev.numel !== ref.numel) {
    throw new Error(`storage ${ref.key} is declared as ${prev.numel} ${prev.dtype} and as ${ref.numel} ${ref.dtype}`);
  }
  return prev;
}

/** The state_dict's (name, tensor) pairs in file order. */
function stateDictEntries(file: string, root: PyValue, nodesLeft: number): Array<[string, TensorRef]> {
  if (!(root instanceof PyDict)) throw new CheckpointError(file, `the pickled object is a ${describePy(root)}, not a state_dict`);
  if (root.size > nodesLeft) throw new CheckpointError(file, `the state_dict has ${root.size} entries, over the node limit`);
  const out: Array<[string, TensorRef]> = [];
  for (const [k, v] of root.entries()) {
    if (typeof k !== 'string') throw new CheckpointError(file, `state_dict key ${describePy(k)} is not a string`);
    if (!(v instanceof PyHost) || v.tag !== 'tensor')
      throw new CheckpointError(file, `state_dict entry ${JSON.stringify(k)} is a ${describePy(v)}, not a tensor`);
    out.push([k, v.value as TensorRef]);
  }
  return out;
}

/** A value read back from torch.save by readTorchSave: dicts become Maps (str keys), tuples and lists arrays. */
export type TorchLoaded = CheckpointTensor | string | number | bigint | boolean | null | TorchLoaded[] | Map<string, TorchLoaded>;

const MAX_NESTING = 32;

/**
 * Nodes of `v` once expanded (a subtree referenced k times counts k times), computed in time
 * proportional to the distinct nodes (sizes are cached per object), stopping once over `limit`.
 */
function expandedSize(v: PyValue, limit: number, cache: Map<object, number>, depth: number): number {
  if (v === null || typeof v !== 'object' || v instanceof PyHost || v instanceof PyGlobal || depth > MAX_NESTING) return 1;
  const hit = cache.get(v);
  if (hit !== undefined) return hit;
  cache.set(v, Number.POSITIVE_INFINITY); // a cycle counts as unbounded
  let n = 1;
  const kids: Iterable<PyValue> = v instanceof PyDict ? [...v.entries()].map((e) => e[1]) : v.items;
  for (const x of kids) {
    n += expandedSize(x, limit, cache, depth + 1);
    if (n > limit) break;
  }
  cache.set(v, n);
  return n;
}

/** Collects the tensors of any nesting of dicts / lists / scalars, with a function that rebuilds the value. */
function objectEntries(
  file: string,
  root: PyValue,
  nodesLeft: number,
): { entries: Array<[string, TensorRef]>; build: (t: Map<string, CheckpointTensor>) => TorchLoaded } {
  // Refused before anything is built: the expansion of a small pickle can be exponential.
  const size = expandedSize(root, nodesLeft, new Map(), 0);
  if (size > nodesLeft) {
    throw new CheckpointError(
      file,
      `the object has more nodes than the limit once expanded (${size === Number.POSITIVE_INFINITY ? 'a cycle' : `over ${nodesLeft}`}; a subtree referenced many times?)`,
    );
  }
  const entries: Array<[string, TensorRef]> = [];
  const names = new Set<string>();
  // Where each tensor goes once materialized: [key, container, index or dict key].
  const slots: Array<[string, TorchLoaded[] | Map<string, TorchLoaded>, number | string]> = [];
  const walk = (v: PyValue, path: string, depth: number): TorchLoaded => {
    if (depth > MAX_NESTING) throw new CheckpointError(file, `${path || 'the object'} is nested deeper than ${MAX_NESTING} levels`);
    if (v instanceof PyHost && v.tag === 'tensor') {
      const key = path || '<root>';
      if (names.has(key)) throw new CheckpointError(file, `two tensors are named ${JSON.stringify(key)} (a dict key with a '.' in it?)`);
      names.add(key);
      entries.push([key, v.value as TensorRef]);
      return null; // filled in by build
    }
    if (v instanceof PyDict) {
      const out = new Map<string, TorchLoaded>();
      for (const [k, x] of v.entries()) {
        if (typeof k !== 'string') throw new CheckpointError(file, `dict key ${describePy(k)}${path ? ` in ${path}` : ''} is not a string`);
        const key = path ? `${path}.${k}` : k;
        const n = entries.length;
        out.set(k, walk(x, key, depth + 1));
        if (entries.length > n && entries[entries.length - 1]![0] === key) slots.push([key, out, k]);
      }
      return out;
    }
    if (v instanceof PyTuple || v instanceof PyList) {
      const out: TorchLoaded[] = [];
      for (let i = 0; i < v.items.length; i++) {
        const key = `${path}[${i}]`;
        const n = entries.length;
        out.push(walk(v.items[i]!, key, depth + 1));
        if (entries.length > n && entries[entries.length - 1]![0] === key) slots.push([key, out, i]);
      }
      return out;
    }
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return v;
    throw new CheckpointError(file, `${path || 'the object'} is a ${describePy(v)}, which a checkpoint may not hold`);
  };
  const value = walk(root, '', 0);
  const build = (t: Map<string, CheckpointTensor>): TorchLoaded => {
    if (root instanceof PyHost) return t.get('<root>')!;
    for (const [key, where, at] of slots) {
      const x = t.get(key)!;
      if (where instanceof Map) where.set(at as string, x);
      else where[at as number] = x;
    }
    return value;
  };
  return { entries, build };
}

type Collect<T> = (
  file: string,
  root: PyValue,
  nodesLeft: number,
) => { entries: Array<[string, TensorRef]>; build: (t: Map<string, CheckpointTensor>) => T };
const collectStateDict: Collect<Map<string, CheckpointTensor>> = (file, root, nodesLeft) => ({
  entries: stateDictEntries(file, root, nodesLeft),
  build: (t) => t,
});

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Copy a strided view out of a decoded storage into a fresh row-major array. */
function gather(src: Float32Array | Int32Array, t: TensorRef, base: number): Float32Array | Int32Array {
  const n = numelOf(t.shape);
  const out = src instanceof Float32Array ? new Float32Array(n) : new Int32Array(n);
  if (n === 0) return out;
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  let srcPos = base + t.offset;
  for (let o = 0; o < n; o++) {
    out[o] = src[srcPos]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      srcPos += t.stride[d]!;
      if (idx[d]! < t.shape[d]!) break;
      srcPos -= t.stride[d]! * t.shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Everything checked before a storage is read or a view expanded: names and shapes against the
 * model's (when given), the tensors' total size, and each storage's declared size.
 */
function precheck(file: string, entries: Array<[string, TensorRef]>, lim: CheckpointLimits, opts: ReadOptions): void {
  const shaped = entries.map(([name, t]) => ({ name, shape: t.shape }));
  checkExpected(file, shaped, opts.expect);
  checkOutputBudget(file, shaped, lim);
  const perStorage = opts.expect ? Math.min(lim.maxTensorBytes, expectedStorageBytes(opts.expect)) : lim.maxTensorBytes;
  const seen = new Set<string>();
  let total = 0;
  for (const [name, t] of entries) {
    const s = t.storage;
    if (seen.has(s.key)) continue;
    seen.add(s.key);
    const bytes = s.numel * DTYPE_BYTES[s.dtype];
    if (bytes > perStorage) {
      throw new CheckpointError(
        file,
        `storage ${s.key} (${JSON.stringify(name)}) declares ${s.numel} ${s.dtype} elements (${bytes} bytes), over the ${perStorage}-byte limit${opts.expect ? " (the whole model's size)" : ''}`,
      );
    }
    total += bytes;
    if (total > lim.maxTensorBytes)
      throw new CheckpointError(file, `the storages up to ${s.key} declare more than ${lim.maxTensorBytes} bytes, the tensor-data limit`);
  }
  // Views (stride 0, many tensors over one storage) may not expand the data without bound.
  let out = 0;
  let widest: [string, TensorRef] | undefined;
  for (const e of entries) {
    const n = numelOf(e[1].shape) * 4;
    out += n;
    if (!widest || n > numelOf(widest[1].shape) * 4) widest = e;
  }
  const allowed = Math.max(1 << 20, total * lim.maxViewExpansion);
  if (out > allowed && widest) {
    const [name, t] = widest;
    throw new CheckpointError(
      file,
      `the tensors would take ${out} bytes from ${total} bytes of storage, more than ${lim.maxViewExpansion} times as much (the largest, ${JSON.stringify(name)}, is a view of shape ${shapeString(t.shape)}, stride ${shapeString(t.stride)}); refused before expanding`,
    );
  }
}

/** Turn tensor references into owned tensors; `loadStorage` returns a root storage's raw bytes. */
function materialize(
  file: string,
  entries: Array<[string, TensorRef]>,
  loadStorage: (ref: StorageRef) => Uint8Array,
): Map<string, CheckpointTensor> {
  const uses = new Map<string, number>();
  for (const [, t] of entries) uses.set(t.storage.key, (uses.get(t.storage.key) ?? 0) + 1);
  const decoded = new Map<string, Float32Array | Int32Array>();
  const out = new Map<string, CheckpointTensor>();
  for (const [name, t] of entries) {
    const s = t.storage;
    let arr = decoded.get(s.key);
    if (!arr) {
      const bytes = loadStorage(s);
      arr = decodeElements(file, `storage ${s.key} (${JSON.stringify(name)})`, s.dtype, bytes, bytes.length / DTYPE_BYTES[s.dtype]);
      // Keep a decoded storage only while later tensors still need it.
      if (uses.get(s.key)! > 1) decoded.set(s.key, arr);
    }
    const remaining = uses.get(s.key)! - 1;
    uses.set(s.key, remaining);
    if (remaining === 0) decoded.delete(s.key);
    const n = numelOf(t.shape);
    let data: Float32Array | Int32Array;
    const start = s.base + t.offset;
    if (isContiguous(t.shape, t.stride)) {
      // The last user of a storage it covers exactly takes the decoded array itself.
      const whole = start === 0 && n === arr.length && remaining === 0;
      data = whole ? arr : arr.slice(start, start + n);
    } else {
      data = gather(arr, t, s.base);
    }
    out.set(name, { dtype: s.dtype, shape: [...t.shape], data });
  }
  return out;
}

function wrapPickle<T>(file: string, where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PickleError) throw new CheckpointError(file, `${where}: ${e.message}`);
    throw e;
  }
}

function pickleLimits(lim: CheckpointLimits): PickleLimits {
  return { maxOps: lim.maxPickleOps, maxStack: lim.maxPickleStack, maxMemo: lim.maxPickleMemo, maxNodes: lim.maxNodes };
}

function readZipFormat<T>(src: ByteSource, collect: Collect<T>, opts: ReadOptions): T {
  const file = src.name;
  const lim = resolveLimits(opts.limits);
  const zip = new ZipReader(src);
  const pkls = zip.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkls.length !== 1) {
    throw new CheckpointError(file, `expected one <folder>/data.pkl entry in the torch zip archive, found ${pkls.length}`);
  }
  const prefix = pkls[0]!.name.slice(0, -'data.pkl'.length);
  const bo = zip.get(`${prefix}byteorder`);
  if (bo) {
    const order = new TextDecoder().decode(zip.read(bo, { bytes: 64, what: 'a byteorder entry' })).trim();
    if (order !== 'little') throw new CheckpointError(file, `storages are ${order}-endian; only little-endian is supported`);
  }
  const known = new Map<string, StorageRef>();
  const hooks = stateDictHooks((pid) => {
    if (pid.items.length !== 5) throw new Error(`storage persistent id must have 5 items, got ${pid.items.length}`);
    const [, type, key, , numel] = pid.items;
    return registerStorage(known, { key: storageKey(key), dtype: storageType(type), numel: count(numel ?? null, 'storage size'), base: 0 });
  });
  const pkl = zip.read(pkls[0]!, { bytes: lim.maxPickleBytes, what: 'a pickle' });
  const { value: root, nodes } = wrapPickle(file, pkls[0]!.name, () => unpickle(pkl, hooks, 0, pickleLimits(lim)));
  const { entries, build } = collect(file, root, lim.maxNodes - nodes);
  precheck(file, entries, lim, opts);
  return build(
    materialize(file, entries, (s) => {
      const name = `${prefix}data/${s.key}`;
      const e = zip.get(name);
      if (!e) throw new CheckpointError(file, `storage entry ${name} is missing from the archive`);
      const want = s.numel * DTYPE_BYTES[s.dtype];
      if (e.size !== want)
        throw new CheckpointError(file, `storage entry ${name} has ${e.size} bytes, ${s.numel} ${s.dtype} elements need ${want}`);
      return zip.read(e, { bytes: lim.maxTensorBytes, what: 'tensor data' });
    }),
  );
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function readLegacyFormat<T>(file: string, bytes: Uint8Array, collect: Collect<T>, opts: ReadOptions): T {
  const lim = resolveLimits(opts.limits);
  let nodesUsed = 0;
  const plain: PickleHooks = {
    allowedGlobals: new Set(),
    persistentLoad: () => {
      throw new Error('unexpected persistent id in a header pickle');
    },
    reduce: (fn) => {
      throw new Error(`${fn.path} cannot be called`);
    },
  };
  let pos = 0;
  const next = (hooks: PickleHooks, what: string): PyValue =>
    wrapPickle(file, what, () => {
      const r = unpickle(bytes, hooks, pos, { ...pickleLimits(lim), maxNodes: lim.maxNodes - nodesUsed });
      pos = r.end;
      nodesUsed += r.nodes;
      return r.value;
    });
  const magic = next(plain, 'magic number');
  if (magic !== LEGACY_MAGIC) throw new CheckpointError(file, 'not a torch.save file (bad magic number)');
  const proto = next(plain, 'protocol version');
  if (proto !== LEGACY_PROTOCOL)
    throw new CheckpointError(file, `torch.save protocol ${describePy(proto)} is not supported (expected ${LEGACY_PROTOCOL})`);
  const sys = next(plain, 'sys info');
  if (!(sys instanceof PyDict) || sys.get('little_endian') !== true)
    throw new CheckpointError(file, 'only little-endian legacy checkpoints are supported');

  const known = new Map<string, StorageRef>();
  const hooks = stateDictHooks((pid) => {
    if (pid.items.length !== 6) throw new Error(`legacy storage persistent id must have 6 items, got ${pid.items.length}`);
    const [, type, key, , numel, view] = pid.items;
    const root = registerStorage(known, {
      key: storageKey(key),
      dtype: storageType(type),
      numel: count(numel ?? null, 'storage size'),
      base: 0,
    });
    if (view === null || view === undefined) return root;
    // (view_key, offset, view_size): a storage that is a slice of the root storage.
    if (!(view instanceof PyTuple) || view.items.length !== 3) throw new Error(`storage view must be a 3-tuple, got ${describePy(view)}`);
    const off = count(view.items[1]!, 'storage view offset');
    const size = count(view.items[2]!, 'storage view size');
    if (off + size > root.numel) throw new Error(`storage view [${off}, ${off + size}) exceeds its ${root.numel}-element root storage`);
    return { key: root.key, dtype: root.dtype, numel: size, base: off };
  });
  const root = next(hooks, 'state_dict');
  const { entries, build } = collect(file, root, lim.maxNodes - nodesUsed);
  precheck(file, entries, lim, opts);
  const keyList = next(plain, 'storage key list');
  if (!(keyList instanceof PyList) || !keyList.items.every((k) => typeof k === 'string')) {
    throw new CheckpointError(file, `storage key list is a ${describePy(keyList)}, not a list of strings`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, Uint8Array>();
  for (const key of keyList.items as string[]) {
    const s = known.get(key);
    if (!s) throw new CheckpointError(file, `storage ${key} is listed but no tensor uses it`);
    if (data.has(key)) throw new CheckpointError(file, `storage ${key} is listed twice`);
    if (pos + 8 > bytes.length)
      throw new CheckpointError(file, `storage ${key}: size field at byte ${pos} lies beyond the end of the file (truncated?)`);
    const numel = view.getBigUint64(pos, true);
    if (numel !== BigInt(s.numel))
      throw new CheckpointError(file, `storage ${key} at byte ${pos} has ${numel} elements, the pickle says ${s.numel}`);
    const n = s.numel * DTYPE_BYTES[s.dtype];
    if (pos + 8 + n > bytes.length)
      throw new CheckpointError(file, `storage ${key}: bytes ${pos + 8}..${pos + 8 + n} lie beyond the end of the file (truncated?)`);
    data.set(key, bytes.subarray(pos + 8, pos + 8 + n));
    pos += 8 + n;
  }
  if (pos !== bytes.length) throw new CheckpointError(file, `${bytes.length - pos} trailing bytes after the last storage`);
  return build(
    materialize(file, entries, (s) => {
      const b = data.get(s.key);
      if (!b) throw new CheckpointError(file, `storage ${s.key} is used but missing from the storage list`);
      return b;
    }),
  );
}

/** Which torch.save layout a file has, from its first bytes. */
export function sniffTorchFormat(head: Uint8Array): 'zip' | 'legacy' | 'tar' | 'unknown' {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') return 'tar';
  if (head.length >= 2 && head[0] === 0x80 && head[1]! <= 5) return 'legacy';
  return 'unknown';
}

/**
 * Read a torch.save state_dict (zip or legacy format) into named tensors, in file order.
 * `opts.expect` checks names and shapes against the model before any data is read;
 * `opts.limits` overrides the budgets of ./limits.ts.
 */
export function readTorchCheckpoint(path: string, opts: ReadOptions = {}): Map<string, CheckpointTensor> {
  return readTorchFile(path, collectStateDict, opts);
}

/**
 * Read any torch.save file made of dicts (str keys), lists, tuples, scalars and tensors, e.g.
 * {generator: state_dict, discriminator: state_dict, ...}; same safety rules as readTorchCheckpoint.
 */
export function readTorchSave(path: string, opts: ReadOptions = {}): TorchLoaded {
  return readTorchFile(path, objectEntries, opts);
}

function readTorchFile<T>(path: string, collect: Collect<T>, opts: ReadOptions): T {
  const src = new FileSource(path);
  try {
    const format = sniffTorchFormat(src.read(0, Math.min(src.size, 512), 'file start'));
    if (format === 'zip') return readZipFormat(src, collect, opts);
    if (format === 'tar') throw new CheckpointError(path, 'the tar-based torch.save format (torch < 0.4) is not supported');
    if (format === 'unknown') throw new CheckpointError(path, 'not a torch.save file (neither a zip archive nor a pickle)');
    // The legacy format is read whole (its storages follow the pickles without an index).
    const max = resolveLimits(opts.limits).maxLegacyFileBytes;
    if (src.size > max)
      throw new CheckpointError(
        path,
        `a legacy-format (torch < 1.6) file of ${src.size} bytes, over the ${max}-byte limit for reading one whole; re-save it with a current torch or as safetensors`,
      );
    return readLegacyFormat(path, src.read(0, src.size, 'legacy checkpoint'), collect, opts);
  } finally {
    src.close();
  }
}

/** The same from bytes in memory (tests, embedded checkpoints). */
export function decodeTorchCheckpoint(bytes: Uint8Array, label = '<memory>', opts: ReadOptions = {}): Map<string, CheckpointTensor> {
  return decodeTorch(bytes, label, collectStateDict, opts);
}

/** readTorchSave from bytes in memory. */
export function decodeTorchSave(bytes: Uint8Array, label = '<memory>', opts: ReadOptions = {}): TorchLoaded {
  return decodeTorch(bytes, label, objectEntries, opts);
}

function decodeTorch<T>(bytes: Uint8Array, label: string, collect: Collect<T>, opts: ReadOptions): T {
  const format = sniffTorchFormat(bytes.subarray(0, 512));
  if (format === 'zip') return readZipFormat(new MemorySource(bytes, label), collect, opts);
  if (format === 'legacy') return readLegacyFormat(label, bytes, collect, opts);
  throw new CheckpointError(label, format === 'tar' ? 'the tar-based torch.save format is not supported' : 'not a torch.save file');
}
