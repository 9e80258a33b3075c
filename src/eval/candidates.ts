// Top-k candidate files: what the original's eval_biencoder --save_topk_result (and
// generate_features_hard) save per mention, as references instead of copied token ids: the
// mention's row in its split, the retrieved entity indices, the gold entity and its position.
// Token ids come from the token caches; generated features (GAN stage) can ride along as f32.
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import { canonicalSplit } from '../data/arboel.js';
import { InputError } from '../errors.js';

export const CANDIDATES_MAGIC = 'BFTOPK01';
export const CANDIDATES_VERSION = 1;
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * What happens to a mention whose gold entity is not among its top k: 'drop' it (the original's
 * active code in nn_prediction.get_topk_predictions) or 'insert' the gold at position 0 and drop
 * the last candidate (the original's commented "while training biencoder_hard" branch, and its
 * rule in get_generate_topk_predictions).
 */
export type MissingGoldRule = 'drop' | 'insert';

/** Our default: 'insert' for the train split (so hard-negative training keeps every mention), 'drop' elsewhere. */
export function defaultMissingGoldRule(mode: string): MissingGoldRule {
  return mode === 'train' ? 'insert' : 'drop';
}

export interface CandidateRows {
  /** Row of each kept mention in its split (or entity index for generated features). */
  mention: Int32Array;
  gold: Int32Array;
  /** Position of the gold among `candidates` (0 for inserted golds). */
  goldPos: Int32Array;
  /** Row-major [count x topK] entity indices. */
  candidates: Int32Array;
  /** Optional row-major [count x featureDim] features (generated features of the GAN stage). */
  features?: Float32Array;
}

export interface CandidateHeader {
  format: 'biofeg-topk';
  version: number;
  /** Mode as given (train, valid, test, test_seen, test_unseen, generate, ...). */
  mode: string;
  topK: number;
  count: number;
  /** Mentions before the rule was applied. */
  totalMentions: number;
  missingGold: MissingGoldRule;
  dropped: number;
  inserted: number;
  featureDim: number;
  /**
   * Rows (in this file) whose gold was inserted, when any was: the cross-encoder drops them (the
   * original trains and scores only mentions whose gold was retrieved). Absent in older files.
   */
  insertedRows?: number[];
  /** Free-form provenance (model hash, token cache paths, ...). */
  source?: Record<string, string>;
}

export interface CandidateFile {
  header: CandidateHeader;
  rows: CandidateRows;
}

export interface RuleResult {
  rows: CandidateRows;
  /** Gold position in the retrieved list before the rule (-1 = not retrieved): the input of recall. */
  positions: Int32Array;
  dropped: number;
  inserted: number;
  /** Rows of `rows` whose gold was inserted. */
  insertedRows: Int32Array;
}

/**
 * Apply the missing-gold rule to retrieval results. `topk` is row-major [n x k]; `mentionRows`
 * defaults to 0..n-1; `features` ([n x featureDim]) are kept for the kept rows.
 */
export function applyMissingGoldRule(
  topk: Int32Array,
  k: number,
  gold: Int32Array,
  rule: MissingGoldRule,
  opts: { mentionRows?: Int32Array; features?: Float32Array; featureDim?: number } = {},
): RuleResult {
  const n = gold.length;
  if (!Number.isInteger(k) || k < 1) throw new Error(`top_k must be >= 1, got ${k}`);
  if (topk.length !== n * k) throw new Error(`top-k array has ${topk.length} entries, expected ${n} x ${k}`);
  if (opts.mentionRows && opts.mentionRows.length !== n) throw new Error(`${opts.mentionRows.length} mention rows for ${n} mentions`);
  const dim = opts.featureDim ?? 0;
  if (opts.features && opts.features.length !== n * dim)
    throw new Error(`features have ${opts.features.length} values, expected ${n} x ${dim}`);
  const positions = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      if (topk[i * k + j] === gold[i]) {
        positions[i] = j;
        break;
      }
    }
  }
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (positions[i]! >= 0 || rule === 'insert') keep.push(i);
  const m = keep.length;
  const rows: CandidateRows = {
    mention: new Int32Array(m),
    gold: new Int32Array(m),
    goldPos: new Int32Array(m),
    candidates: new Int32Array(m * k),
  };
  if (opts.features) rows.features = new Float32Array(m * dim);
  const insertedRows: number[] = [];
  keep.forEach((i, r) => {
    rows.mention[r] = opts.mentionRows ? opts.mentionRows[i]! : i;
    rows.gold[r] = gold[i]!;
    const src = topk.subarray(i * k, (i + 1) * k);
    if (positions[i]! >= 0) {
      rows.goldPos[r] = positions[i]!;
      rows.candidates.set(src, r * k);
    } else {
      // Gold first, then the first k-1 retrieved (the last one falls off).
      rows.goldPos[r] = 0;
      rows.candidates[r * k] = gold[i]!;
      rows.candidates.set(src.subarray(0, k - 1), r * k + 1);
      insertedRows.push(r);
    }
    if (opts.features) rows.features!.set(opts.features.subarray(i * dim, (i + 1) * dim), r * dim);
  });
  return { rows, positions, dropped: n - m, inserted: insertedRows.length, insertedRows: Int32Array.from(insertedRows) };
}

/** `<output>/top<k>_candidates/<split>.topk`, the original's folder; `valid` is written as `val` (what hard training reads). */
export function candidateFilePath(outputPath: string, topK: number, mode: string): string {
  let name = mode;
  try {
    name = canonicalSplit(mode);
  } catch {
    /* test_seen, test_unseen, generate: kept as given */
  }
  return join(outputPath, `top${topK}_candidates`, `${name}.topk`);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Serialise to the binary layout: magic, u32 header length, JSON header, pad to 8, i32/f32 arrays (little-endian). */
export function encodeCandidateFile(file: CandidateFile): Uint8Array {
  const { header, rows } = file;
  checkRows(header, rows, 'candidates');
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const start = align8(8 + 4 + json.length);
  const c = header.count;
  const bytes = start + 4 * (3 * c + c * header.topK + c * header.featureDim);
  const out = new Uint8Array(bytes);
  const dv = new DataView(out.buffer);
  out.set(Buffer.from(CANDIDATES_MAGIC, 'ascii'), 0);
  dv.setUint32(8, json.length, true);
  out.set(json, 12);
  let off = start;
  const put = (a: Int32Array | Float32Array): void => {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
      off += a.byteLength;
      return;
    }
    for (let i = 0; i < a.length; i++, off += 4) {
      if (a instanceof Int32Array) dv.setInt32(off, a[i]!, true);
      else dv.setFloat32(off, a[i]!, true);
    }
  };
  put(rows.mention);
  put(rows.gold);
  put(rows.goldPos);
  put(rows.candidates);
  if (header.featureDim > 0) put(rows.features!);
  return out;
}

function checkRows(h: CandidateHeader, r: CandidateRows, where: string): void {
  const c = h.count;
  const bad = (what: string): never => {
    throw new InputError(where, undefined, what);
  };
  if (r.mention.length !== c || r.gold.length !== c || r.goldPos.length !== c) bad(`expected ${c} mention/gold/position entries`);
  if (r.candidates.length !== c * h.topK) bad(`expected ${c} x ${h.topK} candidates, got ${r.candidates.length}`);
  if (h.featureDim > 0 ? r.features?.length !== c * h.featureDim : r.features !== undefined && r.features.length !== 0)
    bad(`expected ${c} x ${h.featureDim} feature values`);
  for (let i = 0; i < c; i++) {
    const p = r.goldPos[i]!;
    if (p < 0 || p >= h.topK) bad(`row ${i}: gold position ${p} outside 0..${h.topK - 1}`);
    if (r.candidates[i * h.topK + p] !== r.gold[i])
      bad(`row ${i}: candidate at gold position ${p} is ${r.candidates[i * h.topK + p]}, not the gold ${r.gold[i]}`);
  }
}

export function decodeCandidateFile(bytes: Uint8Array, path = 'candidates'): CandidateFile {
  const fail = (what: string): never => {
    throw new InputError(path, undefined, what);
  };
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 8)).toString('ascii') !== CANDIDATES_MAGIC)
    fail(`expected a biofeg top-k candidate file (magic ${CANDIDATES_MAGIC})`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jl = dv.getUint32(8, true);
  if (12 + jl > bytes.length) fail(`header length ${jl} runs past the end of the file (${bytes.length} bytes)`);
  let header: CandidateHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + jl)).toString('utf8')) as CandidateHeader;
  } catch {
    return fail('expected a JSON header after the magic');
  }
  if (header.format !== 'biofeg-topk' || header.version !== CANDIDATES_VERSION)
    fail(`expected format biofeg-topk version ${CANDIDATES_VERSION}, got ${String(header.format)} ${String(header.version)}`);
  for (const key of ['topK', 'count', 'featureDim', 'totalMentions', 'dropped', 'inserted'] as const) {
    if (!Number.isInteger(header[key]) || header[key] < 0) fail(`header field ${key} must be a non-negative integer`);
  }
  if (header.topK < 1) fail('header field topK must be >= 1');
  const ins = header.insertedRows;
  if (
    ins !== undefined &&
    (!Array.isArray(ins) || ins.length !== header.inserted || ins.some((r) => !Number.isInteger(r) || r < 0 || r >= header.count))
  )
    fail(`header field insertedRows must list the ${header.inserted} inserted rows (integers in 0..${header.count - 1})`);
  const c = header.count;
  const start = align8(12 + jl);
  const expected = start + 4 * (3 * c + c * header.topK + c * header.featureDim);
  if (bytes.length !== expected)
    fail(
      `expected ${expected} bytes for ${c} rows of top-${header.topK}${header.featureDim ? ` with ${header.featureDim}-d features` : ''}, found ${bytes.length}`,
    );
  let off = start;
  // Copies (not views) so the rows stay valid and aligned whatever the source buffer.
  const ints = (n: number): Int32Array => {
    const a = new Int32Array(n);
    if (LITTLE_ENDIAN) new Uint8Array(a.buffer).set(bytes.subarray(off, off + 4 * n));
    else for (let i = 0; i < n; i++) a[i] = dv.getInt32(off + 4 * i, true);
    off += 4 * n;
    return a;
  };
  const rows: CandidateRows = { mention: ints(c), gold: ints(c), goldPos: ints(c), candidates: ints(c * header.topK) };
  if (header.featureDim > 0) {
    const f = new Float32Array(c * header.featureDim);
    if (LITTLE_ENDIAN) new Uint8Array(f.buffer).set(bytes.subarray(off, off + 4 * f.length));
    else for (let i = 0; i < f.length; i++) f[i] = dv.getFloat32(off + 4 * i, true);
    rows.features = f;
  }
  checkRows(header, rows, path);
  return { header, rows };
}

/** Build the header for `result` and write the file atomically (temp file + rename). */
export function writeCandidateFile(
  path: string,
  mode: string,
  topK: number,
  rule: MissingGoldRule,
  result: RuleResult,
  opts: { featureDim?: number; source?: Record<string, string> } = {},
): CandidateHeader {
  const header: CandidateHeader = {
    format: 'biofeg-topk',
    version: CANDIDATES_VERSION,
    mode,
    topK,
    count: result.rows.gold.length,
    totalMentions: result.positions.length,
    missingGold: rule,
    dropped: result.dropped,
    inserted: result.inserted,
    featureDim: opts.featureDim ?? 0,
    ...(result.inserted > 0 ? { insertedRows: Array.from(result.insertedRows) } : {}),
    ...(opts.source ? { source: opts.source } : {}),
  };
  writeFileAtomic(path, encodeCandidateFile({ header, rows: result.rows }));
  return header;
}

export function readCandidateFile(path: string): CandidateFile {
  return decodeCandidateFile(readFileSync(path), path);
}
