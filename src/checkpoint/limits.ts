/**
 * Budgets of the checkpoint readers: how much work and memory a file may make them spend. Each is
 * checked before the allocation or the loop it bounds, so a small hostile file (a pickle of
 * millions of opcodes, a subtree referenced 2^24 times, a zip entry that inflates to gigabytes, a
 * stride-0 tensor expanded to terabytes) is refused with a CheckpointError naming the file and
 * the budget, instead of exhausting memory. The defaults are far above a real BERT-large or
 * bi-encoder checkpoint (about 400 tensors, a 60 KB pickle, 1.3 GB of f32 per BERT-large) and
 * far below what exhausts a machine; every reader takes overrides.
 */
import { CheckpointError, DTYPE_BYTES, shapeString, type FileDType } from './types.js';

export interface CheckpointLimits {
  /** Pickle opcodes executed (default 20 million; a BERT-large state_dict uses about 15 thousand). */
  maxPickleOps: number;
  /** Items on the pickle stack at once, marks included (default 1 million). */
  maxPickleStack: number;
  /** Memo entries (default 1 million). */
  maxPickleMemo: number;
  /**
   * Nodes built: every value the pickle VM pushes, and every node visited when the object is
   * expanded into tensors and values, so a subtree referenced many times counts every time it is
   * used (default 5 million; a BERT-large state_dict builds about 10 thousand).
   */
  maxNodes: number;
  /** Bytes of one pickle, after inflating (default 256 MiB; a BERT-large state_dict's is ~60 KB). */
  maxPickleBytes: number;
  /**
   * Bytes of tensor data: the storages read (declared sizes, checked before reading or inflating)
   * and, separately, the tensors returned (sum of shape x 4 bytes, checked before expanding any
   * view) (default 16 GiB).
   */
  maxTensorBytes: number;
  /** Elements of one tensor (default 2^32 - 1, the typed-array limit). */
  maxTensorElements: number;
  /**
   * How many times the tensors returned may outgrow the storages they view (default 16): tied
   * weights and f16 -> f32 conversion double it at most, while a stride-0 view of one element
   * declaring a huge shape would expand it without bound. 1 MiB of output is always allowed.
   */
  maxViewExpansion: number;
  /** Bytes of a legacy-format (torch < 1.6) file, which is read into memory whole (default 4 GiB - 1). */
  maxLegacyFileBytes: number;
}

export const DEFAULT_CHECKPOINT_LIMITS: Readonly<CheckpointLimits> = Object.freeze({
  maxPickleOps: 20_000_000,
  maxPickleStack: 1_000_000,
  maxPickleMemo: 1_000_000,
  maxNodes: 5_000_000,
  maxPickleBytes: 256 * 1024 * 1024,
  maxTensorBytes: 16 * 1024 ** 3,
  maxTensorElements: 2 ** 32 - 1,
  maxViewExpansion: 16,
  maxLegacyFileBytes: 2 ** 32 - 1,
});

export function resolveLimits(over?: Partial<CheckpointLimits>): CheckpointLimits {
  const out = { ...DEFAULT_CHECKPOINT_LIMITS, ...over };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`checkpoint limit ${k} must be a non-negative number, got ${String(v)}`);
  }
  return out;
}

/**
 * What the caller's model expects, when it knows: each tensor's shape by (mapped) name. A reader
 * given one checks every entry's name and shape before it reads or expands any data, and bounds
 * each storage by the model's total size.
 */
export interface TensorExpectation {
  /** Expected shape of every tensor, by the name `nameOf` gives. */
  shapes: ReadonlyMap<string, readonly number[]>;
  /** The expected name of a file's tensor (e.g. without a `module.` prefix); identity by default. */
  nameOf?: (fileName: string) => string;
  /** Names (as mapped) that may be present without being expected, e.g. buffers; none by default. */
  ignore?: (name: string) => boolean;
  /** Accept names that are not expected (default false: refused, as PyTorch's strict loading does). */
  allowUnexpected?: boolean;
  /** Refuse a file that lacks an expected name (default false: the caller reports what is missing). */
  requireAll?: boolean;
}

/** Options every checkpoint reader takes. */
export interface ReadOptions {
  limits?: Partial<CheckpointLimits>;
  expect?: TensorExpectation;
}

/** Elements of `shape`, or Infinity when they exceed the safe-integer range. */
export function safeNumel(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return Number.POSITIVE_INFINITY;
  }
  return n;
}

/** The most bytes any one storage needs to hold every expected tensor (at the widest dtype). */
export function expectedStorageBytes(e: TensorExpectation): number {
  let n = 0;
  for (const s of e.shapes.values()) n += safeNumel(s);
  return n * Math.max(...Object.values(DTYPE_BYTES));
}

export function storageBytes(numel: number, dtype: FileDType): number {
  return numel * DTYPE_BYTES[dtype];
}

const list = (xs: readonly string[]): string => (xs.length > 5 ? `${xs.slice(0, 5).join(', ')}, ... (${xs.length} in all)` : xs.join(', '));

/**
 * Checks entry names and shapes against what the model expects, before any data is read: an
 * unexpected name (unless allowed or ignored), a shape that differs, two names that map to one,
 * and (with requireAll) a missing name are one CheckpointError listing every problem.
 */
export function checkExpected(
  file: string,
  entries: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  e: TensorExpectation | undefined,
): void {
  if (!e) return;
  const unexpected: string[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const { name, shape } of entries) {
    const mapped = e.nameOf ? e.nameOf(name) : name;
    const first = seen.get(mapped);
    if (first !== undefined) {
      problems.push(`${JSON.stringify(first)} and ${JSON.stringify(name)} are both ${JSON.stringify(mapped)}`);
      continue;
    }
    seen.set(mapped, name);
    const want = e.shapes.get(mapped);
    if (want === undefined) {
      if (!e.allowUnexpected && !e.ignore?.(mapped)) unexpected.push(name);
      continue;
    }
    if (want.length !== shape.length || want.some((d, i) => d !== shape[i])) {
      problems.push(`${name} has shape ${shapeString(shape)}, the model expects ${shapeString(want)}`);
    }
  }
  if (unexpected.length)
    problems.unshift(`unexpected tensor${unexpected.length > 1 ? 's' : ''} ${list(unexpected)} (the model has no such parameter)`);
  if (e.requireAll) {
    const missing = [...e.shapes.keys()].filter((k) => !seen.has(k));
    if (missing.length) problems.push(`missing ${list(missing)}`);
  }
  if (problems.length) throw new CheckpointError(file, `checkpoint does not fit the model: ${problems.join('; ')}`);
}

/**
 * Checks the tensors a reader is about to return (each expanded to `shape`, 4 bytes an element)
 * against the budgets, before any is built: a stride-0 view declaring a huge shape is refused
 * here, naming the tensor, instead of failing an allocation.
 */
export function checkOutputBudget(
  file: string,
  entries: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  limits: CheckpointLimits,
): void {
  let total = 0;
  for (const { name, shape } of entries) {
    const n = safeNumel(shape);
    if (n > limits.maxTensorElements) {
      throw new CheckpointError(
        file,
        `tensor ${JSON.stringify(name)} of shape ${shapeString(shape)} has ${n} elements, over the ${limits.maxTensorElements}-element limit for one tensor`,
      );
    }
    total += n * 4;
    if (total > limits.maxTensorBytes) {
      throw new CheckpointError(
        file,
        `the tensors up to ${JSON.stringify(name)} (shape ${shapeString(shape)}) need more than ${limits.maxTensorBytes} bytes, the tensor-data limit (a view expanded many times?)`,
      );
    }
  }
}
