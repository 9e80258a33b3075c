// The cross-encoder's data: per mention, its bi-encoder context window, its k candidates' windows
// (in the bi-encoder's order) and the gold's position among them. Two sources:
// - the original's .t7 candidate files ({context_vecs [n, Lc], candidate_vecs [n, k, Lk], labels
//   [n]}, int64, from eval_biencoder --save_topk_result), read by the safe torch reader;
// - our .topk files (evaluateBiencoder with saveTopkResult), which refer to token-cache rows.
// Mentions whose gold is not among the candidates are dropped (the original's keep_all=False):
// .topk rows whose gold was inserted, .t7 rows labelled -1.
import { existsSync } from 'node:fs';

import { readTorchSave, type CheckpointTensor, type TorchLoaded } from '../checkpoint/index.js';
import { TokenCache } from '../data/token-cache.js';
import { InputError } from '../errors.js';
import { readCandidateFile } from '../eval/candidates.js';

export interface CrossSource {
  path: string;
  /** Mentions kept (gold among the candidates). */
  count: number;
  k: number;
  /** Context window of the bi-encoder (context ids per mention). */
  ctxLen: number;
  /** Candidate window of the bi-encoder. */
  candLen: number;
  /** Mentions before dropping (the denominator of unnormalized accuracy); null when the file does not say (.t7). */
  totalMentions: number | null;
  /** Position of the gold among each kept mention's candidates. */
  labels: Int32Array;
  /** Contexts [rows, ctxLen] and candidates [rows, k, candLen] of kept mentions `rows`. */
  read(rows: ArrayLike<number>): { contexts: Int32Array; candidates: Int32Array };
  close(): void;
}

function asTensor(v: TorchLoaded | undefined, path: string, key: string, dims: number): CheckpointTensor {
  if (v === undefined) throw new InputError(path, undefined, `expected a '${key}' entry (an original .t7 candidate file)`);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map || !('shape' in v))
    throw new InputError(path, undefined, `'${key}' must be a tensor`);
  if (v.shape.length !== dims || v.data instanceof Float32Array)
    throw new InputError(path, undefined, `'${key}' must be a ${dims}-d integer tensor, got ${v.dtype} [${v.shape.join(', ')}]`);
  return v;
}

/** An original .t7 candidate file (context_vecs, candidate_vecs, labels); `vocabSize` bounds the ids when given. */
export function openT7(path: string, o: { vocabSize?: number } = {}): CrossSource {
  if (!existsSync(path)) throw new InputError(path, undefined, 'not found');
  const root = readTorchSave(path);
  if (!(root instanceof Map)) throw new InputError(path, undefined, 'expected a dict {context_vecs, candidate_vecs, labels}');
  const ctx = asTensor(root.get('context_vecs'), path, 'context_vecs', 2);
  const cand = asTensor(root.get('candidate_vecs'), path, 'candidate_vecs', 3);
  const lab = asTensor(root.get('labels'), path, 'labels', 1);
  const [n, ctxLen] = ctx.shape as [number, number];
  const [n2, k, candLen] = cand.shape as [number, number, number];
  if (n2 !== n || lab.shape[0] !== n)
    throw new InputError(
      path,
      undefined,
      `context_vecs has ${n} rows, candidate_vecs ${n2}, labels ${lab.shape[0]}: expected the same count`,
    );
  if (k < 1 || ctxLen < 1 || candLen < 1)
    throw new InputError(path, undefined, `empty windows or no candidates: k ${k}, context ${ctxLen}, candidate ${candLen}`);
  const ids = [ctx.data, cand.data];
  const vmax = o.vocabSize ?? Infinity;
  for (const a of ids)
    for (let i = 0; i < a.length; i++)
      if (a[i]! < 0 || a[i]! >= vmax)
        throw new InputError(path, undefined, `token id ${a[i]} at element ${i} is outside the vocabulary (0..${vmax - 1})`);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = lab.data[i]!;
    if (l === -1) continue; // keep_all=False: gold not among the candidates
    if (!Number.isInteger(l) || l < 0 || l >= k)
      throw new InputError(path, undefined, `labels[${i}] = ${l} is outside 0..${k - 1} (k = ${k})`);
    keep.push(i);
  }
  const labels = Int32Array.from(keep, (i) => lab.data[i]!);
  return {
    path,
    count: keep.length,
    k,
    ctxLen,
    candLen,
    totalMentions: null,
    labels,
    read(rows) {
      const B = rows.length;
      const contexts = new Int32Array(B * ctxLen);
      const candidates = new Int32Array(B * k * candLen);
      for (let b = 0; b < B; b++) {
        const i = keep[rows[b]!]!;
        contexts.set(ctx.data.subarray(i * ctxLen, (i + 1) * ctxLen), b * ctxLen);
        candidates.set(cand.data.subarray(i * k * candLen, (i + 1) * k * candLen), b * k * candLen);
      }
      return { contexts, candidates };
    },
    close() {},
  };
}

/** What the model a source feeds expects of its token ids. */
export interface CrossSourceExpectation {
  /** Ids must lie in 0..vocabSize-1 (the model's embedding rows). */
  vocabSize?: number;
  /** The model's tokenizer hash: a .topk's token caches must have been built with it. */
  tokenizerHash?: string;
}

/** One of our .topk files, reading token ids from the caches its header names. */
export function openTopk(path: string, o: CrossSourceExpectation = {}): CrossSource {
  if (!existsSync(path)) throw new InputError(path, undefined, 'not found');
  const file = readCandidateFile(path);
  const h = file.header;
  const src = h.source ?? {};
  if (h.featureDim > 0)
    throw new InputError(
      path,
      undefined,
      'a generated-feature file: the cross-encoder needs mention candidates (evaluateBiencoder --save_topk_result)',
    );
  if (!src['mentionCache'] || !src['entityCache'])
    throw new InputError(path, undefined, 'the file does not name its token caches (mentionCache, entityCache)');
  if (h.missingGold === 'insert' && h.inserted > 0 && h.insertedRows === undefined)
    throw new InputError(
      path,
      undefined,
      `${h.inserted} golds were inserted and the file does not list which (written by an older biofeg): rerun evaluateBiencoder with saveTopkResult`,
    );
  const mentions = new TokenCache(src['mentionCache']);
  let entities: TokenCache;
  try {
    entities = new TokenCache(src['entityCache']);
  } catch (e) {
    mentions.close();
    throw e;
  }
  try {
    if (mentions.header.kind !== 'mentions' || entities.header.kind !== 'entities')
      throw new InputError(path, undefined, `${mentions.path} / ${entities.path}: expected a mention and an entity token cache`);
    // Ids of another vocabulary would be embedded as other tokens (or fail in the engine mid-run).
    if (o.tokenizerHash !== undefined)
      for (const c of [mentions, entities])
        if (c.header.tokenizerHash !== o.tokenizerHash)
          throw new InputError(
            path,
            undefined,
            `${c.path} was tokenized with tokenizer ${c.header.tokenizerHash.slice(0, 16)}…, the cross-encoder's is ${o.tokenizerHash.slice(0, 16)}…: give the bi-encoder's vocabulary (--vocab, or a --bert_model / --path_to_model folder with it)`,
          );
    const vmax = o.vocabSize ?? Infinity;
    // Token caches are read lazily, so their ids are checked per batch read.
    const checkIds = (ids: Int32Array, cache: TokenCache, rowsRead: ArrayLike<number>, idWidth: number): void => {
      const w = cache.width;
      for (let i = 0; i < ids.length; i++) {
        if (i % w >= idWidth) continue; // a mention row's trailing label id is no token
        const v = ids[i]!;
        if (v < 0 || v >= vmax)
          throw new InputError(
            cache.path,
            undefined,
            `row ${rowsRead[Math.floor(i / w)]}: token id ${v} is outside the vocabulary (0..${vmax - 1})`,
          );
      }
    };
    const inserted = new Set(h.insertedRows ?? []);
    const keep: number[] = [];
    for (let r = 0; r < h.count; r++) {
      const m = file.rows.mention[r]!;
      if (m < 0 || m >= mentions.rows)
        throw new InputError(path, undefined, `row ${r}: mention ${m} is outside the ${mentions.rows} mentions of ${mentions.path}`);
      for (let j = 0; j < h.topK; j++) {
        const e = file.rows.candidates[r * h.topK + j]!;
        if (e < 0 || e >= entities.rows)
          throw new InputError(path, undefined, `row ${r}: entity ${e} is outside the ${entities.rows} entities of ${entities.path}`);
      }
      if (!inserted.has(r)) keep.push(r);
    }
    const k = h.topK;
    const ctxLen = mentions.width - 1; // the row ends with the label id
    const candLen = entities.width;
    return {
      path,
      count: keep.length,
      k,
      ctxLen,
      candLen,
      totalMentions: h.totalMentions,
      labels: Int32Array.from(keep, (r) => file.rows.goldPos[r]!),
      read(rows) {
        const B = rows.length;
        const mrows = Int32Array.from({ length: B }, (_, b) => file.rows.mention[keep[rows[b]!]!]!);
        const raw = mentions.readRows(mrows);
        checkIds(raw, mentions, mrows, ctxLen);
        const contexts = new Int32Array(B * ctxLen);
        for (let b = 0; b < B; b++) contexts.set(raw.subarray(b * (ctxLen + 1), b * (ctxLen + 1) + ctxLen), b * ctxLen);
        const ents = new Int32Array(B * k);
        for (let b = 0; b < B; b++) {
          const r = keep[rows[b]!]!;
          ents.set(file.rows.candidates.subarray(r * k, (r + 1) * k), b * k);
        }
        const candidates = entities.readRows(ents);
        checkIds(candidates, entities, ents, candLen);
        return { contexts, candidates };
      },
      close() {
        mentions.close();
        entities.close();
      },
    };
  } catch (e) {
    mentions.close();
    entities.close();
    throw e;
  }
}

/** A candidate file by its extension: `.t7` (the original's, which records no tokenizer) or `.topk` (ours). */
export function openCrossSource(path: string, o: CrossSourceExpectation = {}): CrossSource {
  return path.endsWith('.t7') ? openT7(path, o) : openTopk(path, o);
}
