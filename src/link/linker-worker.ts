// The Linker's worker thread: holds the bi-encoder and the entity vectors, tokenizes mention
// windows (the training code's contextRepresentation), encodes them in forwards of at most
// maxBatchTokens padded tokens, and searches the index with the engine's top-k. One batch at a
// time, in order: the model's activations are planned for one batch. With a cross-encoder loaded
// (rerank.ts), a link batch may also rerank its top-k.
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

import { contextRepresentation, ENT_END_TAG, ENT_START_TAG, ENT_TITLE_TAG } from '../data/blink-inputs.js';
import { BiofegError, CheckpointRejectedError, toWire, type WireError } from '../errors.js';
import { engineFor } from '../engine.js';
import { copyInto, poolDtypeSupported, queryDtype } from '../eval/entity-pool.js';
import { trimmedBatch } from '../eval/token-batch.js';
import { type NativeTensor, tensor } from '../native.js';
import { chooseDevice, precisionOf } from '../stages/setup.js';
import { loadIndexVectors, readManifest, StringTable } from './index-file.js';
import { openContextModel } from './model.js';
import { openReranker, type Reranker, reorderByScore } from './rerank.js';

/** One mention as the worker takes it. */
export interface WireMention {
  text: string;
  left: string;
  right: string;
}

export interface LinkerWorkerData {
  model: string;
  index: string;
  device: 'auto' | 'cpu' | 'cuda';
  precision: 'f32' | 'bf16';
  threads?: number;
  maxBatchTokens: number;
  /** Given explicitly: wins over the recorded window, with a warning when they differ. */
  maxContextLength?: number;
  /** A cross-encoder checkpoint folder: link requests may rerank with it. */
  crossencoder?: string;
}

/** What the worker reports once loaded. */
export interface LinkerFacts {
  modelHash: string;
  entities: number;
  dim: number;
  dtype: 'f32' | 'bf16';
  device: 'cpu' | 'cuda';
  maxContextLength: number;
  maxCandLength: number;
  /** Whether the checkpoint recorded its inference settings. */
  recorded: boolean;
  topkMaxK: number;
  /** The index's string table (ids and names), transferred. */
  strings: ArrayBuffer;
  warnings: string[];
  /** The loaded cross-encoder's folder and pair windows; absent without one. */
  crossencoder?: { dir: string; maxContextLength: number; maxSeqLength: number };
}

export type LinkerRequest =
  | { op: 'link'; id: number; mentions: WireMention[]; k: number; rerank: boolean }
  | { op: 'embed'; id: number; mentions: WireMention[] }
  | { op: 'close'; id: number };

export type LinkerReply =
  | { type: 'ready'; facts: LinkerFacts }
  | { type: 'link'; id: number; indices: Int32Array; scores: Float32Array; crossScores?: Float32Array; tokens: number }
  | { type: 'embed'; id: number; vectors: Float32Array; tokens: number }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; error: WireError };

const port = parentPort!;
const d = workerData as LinkerWorkerData;

interface Loaded {
  encode(mentions: WireMention[]): Promise<{ vectors: NativeTensor[]; rows: number[]; tokens: number; ids: Int32Array[] }>;
  link(
    mentions: WireMention[],
    k: number,
    rerank: boolean,
  ): Promise<{ indices: Int32Array; scores: Float32Array; crossScores?: Float32Array; tokens: number }>;
  embed(mentions: WireMention[]): Promise<{ vectors: Float32Array; tokens: number }>;
}

async function load(): Promise<{ loaded: Loaded; facts: LinkerFacts }> {
  const device = chooseDevice({ device: d.device, threads: d.threads });
  const { lm, hash: hashing } = openContextModel(d.model, device, precisionOf(d.precision, device));
  lm.encoder.bert.keepWeightCopy(); // the Linker never changes its weights
  const inf = lm.inference;
  if (inf.mentionMarkers[0] !== ENT_START_TAG || inf.mentionMarkers[1] !== ENT_END_TAG || inf.titleMarker !== ENT_TITLE_TAG)
    throw new CheckpointRejectedError(
      d.model,
      `${d.model}: the checkpoint records markers ${inf.mentionMarkers.join(' ')} / ${inf.titleMarker}; this biofeg builds windows with ${ENT_START_TAG} ${ENT_END_TAG} / ${ENT_TITLE_TAG}`,
    );
  // The candidate hash is computed on its own thread while the rest loads; checked before ready.
  hashing.catch(() => undefined); // handled below; a failure before then must not crash the thread
  const m = readManifest(d.index);
  const maxCtx = d.maxContextLength ?? inf.maxContextLength;
  if (maxCtx > lm.encoder.config.maxPositions)
    throw new CheckpointRejectedError(
      d.model,
      `${d.model}: max_context_length ${maxCtx} exceeds the model's ${lm.encoder.config.maxPositions} positions`,
    );
  const warnings: string[] = [];
  if (lm.recorded && maxCtx !== inf.maxContextLength)
    warnings.push(
      `${d.model}: maxContextLength ${maxCtx} given, but the checkpoint was trained with ${inf.maxContextLength}; results may be worse`,
    );
  if (!lm.recorded && d.maxContextLength === undefined)
    warnings.push(
      `${d.model}: the checkpoint records no inference settings; using max_context_length ${maxCtx}, max_cand_length ${inf.maxCandLength}`,
    );
  const tok = lm.tokenizer;
  const enc = lm.encoder;
  const eng = engineFor(device);
  let poolDtype = m.dtype;
  if (!poolDtypeSupported(device, poolDtype)) {
    warnings.push(`${d.index}: a ${m.dtype} index is held as f32 on ${device} (this build's top-k there takes f32 only)`);
    poolDtype = 'f32';
  }
  const pool = loadIndexVectors(join(d.index, m.vectors), m, device, poolDtype);
  const modelHash = await hashing.catch((e: unknown) => {
    pool.dispose();
    throw e;
  });
  if (m.modelHash !== modelHash) {
    pool.dispose();
    throw new CheckpointRejectedError(
      d.index,
      `${d.index}: the index was built with another model (model hash ${m.modelHash.slice(0, 16)}, ${d.model} hashes to ${modelHash.slice(0, 16)}); rebuild it with \`biofeg index --model ${d.model}\``,
    );
  }
  const strings = readFileSync(join(d.index, m.entities));
  const dim = m.dim;
  let reranker: Reranker | undefined;
  if (d.crossencoder !== undefined) {
    if (m.texts === undefined) {
      pool.dispose();
      throw new CheckpointRejectedError(
        d.index,
        `${d.index}: the index keeps no entity texts (built by an older biofeg), which reranking reads; rebuild it with \`biofeg index\``,
      );
    }
    const names = StringTable.from(strings, join(d.index, m.entities));
    const texts = StringTable.read(join(d.index, m.texts));
    if (texts.count !== m.count) {
      pool.dispose();
      throw new CheckpointRejectedError(d.index, `${d.index}: ${m.texts} holds ${texts.count} texts for ${m.count} entities`);
    }
    try {
      reranker = openReranker({
        dir: d.crossencoder,
        device,
        precision: precisionOf(d.precision, device),
        tokenizer: tok,
        ctxLen: maxCtx,
        candLen: m.maxCandLength,
        names,
        texts,
        maxBatchTokens: d.maxBatchTokens,
        warnings,
      });
    } catch (e) {
      pool.dispose();
      throw e;
    }
  }

  const encode = async (mentions: WireMention[]) => {
    const rows = mentions.map((x) => contextRepresentation(tok, x.text, x.left, x.right, maxCtx).ids);
    const out: NativeTensor[] = [];
    const counts: number[] = [];
    let tokens = 0;
    // Forwards of at most maxBatchTokens padded tokens (at least one mention each), in order.
    let start = 0;
    while (start < rows.length) {
      let end = start;
      let seq = 1;
      while (end < rows.length) {
        const len = realLen(rows[end]!);
        const s2 = Math.max(seq, len);
        if (end > start && s2 * (end - start + 1) > d.maxBatchTokens) break;
        seq = s2;
        end++;
      }
      const n = end - start;
      const ids = new Int32Array(n * maxCtx);
      for (let i = 0; i < n; i++) ids.set(rows[start + i]!, i * maxCtx);
      const batch = trimmedBatch(ids, n, maxCtx, maxCtx);
      tokens += batch.rows * batch.seq;
      // Sync calls (encodeSync, topk): this thread only serves the Linker, one batch at a time, so
      // the thread-pool hops of the async ones would only add latency.
      const emb = enc.encodeSync(batch);
      // The encoder's output is overwritten by its next forward: keep a copy.
      const keep = tensor(device, queryDtype(device, poolDtype), [n, dim]);
      copyInto(eng, emb, keep);
      out.push(keep);
      counts.push(n);
      start = end;
    }
    return { vectors: out, rows: counts, tokens, ids: rows };
  };

  // The table goes to the Linker without a copy (tens of MB at a million entities) where this
  // thread keeps no view of it: readFileSync's buffer of a large file is a whole ArrayBuffer.
  const whole = strings.byteOffset === 0 && strings.byteLength === strings.buffer.byteLength;
  const ab = (
    whole && !reranker ? strings.buffer : strings.buffer.slice(strings.byteOffset, strings.byteOffset + strings.byteLength)
  ) as ArrayBuffer;

  const loaded: Loaded = {
    encode,
    async link(mentions, k, rerank) {
      const { vectors, rows, tokens, ids } = await encode(mentions);
      const n = mentions.length;
      const indices = new Int32Array(n * k);
      const scores = new Float32Array(n * k);
      let at = 0;
      try {
        for (let b = 0; b < vectors.length; b++) {
          const q = vectors[b]!;
          const r = rows[b]!;
          const sc = tensor(device, 'f32', [r, k]);
          const ix = tensor(device, 'i32', [r, k]);
          try {
            eng.topk(q, pool, k, sc, ix);
            scores.set(sc.download() as Float32Array, at * k);
            indices.set(ix.download() as Int32Array, at * k);
          } finally {
            sc.dispose();
            ix.dispose();
          }
          at += r;
        }
      } finally {
        for (const v of vectors) v.dispose();
      }
      if (!rerank) return { indices, scores, tokens };
      // The Linker checks rerank against a loaded cross-encoder before it queues a call.
      if (!reranker) throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker: rerank asked without a cross-encoder');
      const contexts = new Int32Array(n * maxCtx);
      for (let i = 0; i < n; i++) contexts.set(ids[i]!, i * maxCtx);
      const crossScores = await reranker.score(contexts, indices, n, k);
      reorderByScore(indices, scores, crossScores, n, k);
      return { indices, scores, crossScores, tokens };
    },
    async embed(mentions) {
      const { vectors, tokens } = await encode(mentions);
      const out = new Float32Array(mentions.length * dim);
      let at = 0;
      for (const v of vectors) {
        const f = tensor(device, 'f32', v.shape);
        copyInto(eng, v, f);
        out.set(f.download() as Float32Array, at);
        at += f.shape[0]! * dim;
        f.dispose();
        v.dispose();
      }
      return { vectors: out, tokens };
    },
  };
  return {
    loaded,
    facts: {
      modelHash,
      entities: m.count,
      dim,
      dtype: m.dtype,
      device,
      maxContextLength: maxCtx,
      maxCandLength: inf.maxCandLength,
      recorded: lm.recorded,
      topkMaxK: eng.caps.topkMaxK,
      strings: ab,
      warnings,
      ...(reranker ? { crossencoder: { dir: reranker.dir, ...reranker.windows } } : {}),
    },
  };
}

/** Real length of a 0-padded window: one past its last non-zero id. */
function realLen(ids: Int32Array): number {
  for (let j = ids.length - 1; j >= 0; j--) if (ids[j] !== 0) return j + 1;
  return 1;
}

const post = (m: LinkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let loaded: Loaded;
try {
  const r = await load();
  loaded = r.loaded;
  post({ type: 'ready', facts: r.facts }, [r.facts.strings]);
} catch (e) {
  post({ type: 'error', id: 0, error: toWire(e) });
  port.close();
}
let queue = Promise.resolve();
port.on('message', (r: LinkerRequest) => {
  queue = queue.then(async () => {
    try {
      if (r.op === 'close') {
        post({ type: 'closed', id: r.id });
        port.close();
      } else if (r.op === 'link') {
        const v = await loaded.link(r.mentions, r.k, r.rerank);
        const buffers = [v.indices.buffer, v.scores.buffer, ...(v.crossScores ? [v.crossScores.buffer] : [])] as ArrayBuffer[];
        post({ type: 'link', id: r.id, ...v }, buffers);
      } else {
        const v = await loaded.embed(r.mentions);
        post({ type: 'embed', id: r.id, ...v }, [v.vectors.buffer as ArrayBuffer]);
      }
    } catch (e) {
      post({ type: 'error', id: r.id, error: toWire(e) });
    }
  });
});
