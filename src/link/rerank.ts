// The Linker's reranker (worker side): a cross-encoder checkpoint (train-crossencoder's folder)
// scoring each mention's top-k candidates with the pair inputs training and evaluate-crossencoder
// build (data/cross-inputs.ts): the mention's context window as the Linker encodes it, then each
// candidate's window `[CLS] name [unused2] text [SEP]` from the index's names and kept texts.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { candidateRepresentation } from '../data/blink-inputs.js';
import { pairInputs, pairLength } from '../data/cross-inputs.js';
import { BiofegError, CheckpointRejectedError } from '../errors.js';
import type { BertPrecision } from '../models/bert.js';
import type { CrossEncoder } from '../models/crossencoder.js';
import { Workspace } from '../models/workspace.js';
import type { DeviceName } from '../native.js';
import { modelTokenizer } from '../stages/setup.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { openCrossEncoder, type CrossWindows } from '../train/cross-checkpoint.js';
import { crossStep } from '../train/cross-step.js';
import type { StringTable } from './index-file.js';

/** The pair settings a reranker uses (the checkpoint's recorded ones where it records them). */
export interface RerankWindows {
  /** Where segment ids start (the cross-encoder's max_context_length). */
  maxContextLength: number;
  maxSeqLength: number;
}

export interface Reranker {
  dir: string;
  windows: RerankWindows;
  /**
   * Cross-encoder scores [n, k] of `n` mentions' context windows `contexts` [n, ctxLen] against
   * the entity rows `rows` [n, k] (row-major, mention-major).
   */
  score(contexts: Int32Array, rows: Int32Array, n: number, k: number): Promise<Float32Array>;
  dispose(): void;
}

export interface RerankerSetup {
  dir: string;
  device: DeviceName;
  precision: BertPrecision;
  /** The bi-encoder's tokenizer: the pairs are built from its windows, so the vocabularies must match. */
  tokenizer: WordPieceTokenizer;
  /** The Linker's context window and the index's candidate window. */
  ctxLen: number;
  candLen: number;
  names: StringTable;
  texts: StringTable;
  /** Bounds the pairs per BERT call: maxBatchTokens / pair length. */
  maxBatchTokens: number;
  warnings: string[];
}

function rejected(dir: string, e: unknown): Error {
  if (e instanceof BiofegError) return e;
  return new CheckpointRejectedError(dir, `${dir}: ${(e as Error).message ?? String(e)}`);
}

/** Opens the cross-encoder folder and checks it against the bi-encoder it reranks for. */
export function openReranker(o: RerankerSetup): Reranker {
  const { dir } = o;
  if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(join(dir, 'config.json')))
    throw new CheckpointRejectedError(dir, `${dir}: not a cross-encoder checkpoint folder (no config.json)`);
  let model: CrossEncoder;
  let recorded: CrossWindows | undefined;
  try {
    // Its own vocabulary, when it keeps one, must be the bi-encoder's: its ids are the bi-encoder's windows.
    if (existsSync(join(dir, 'vocab.txt')) || existsSync(join(dir, 'tokenizer.json'))) {
      const own = modelTokenizer(dir, undefined).tokenizer;
      if (own.hash !== o.tokenizer.hash)
        throw new CheckpointRejectedError(
          dir,
          `${dir}: the cross-encoder's vocabulary (${own.vocabSize} entries) is not the bi-encoder's (${o.tokenizer.vocabSize}): the pairs are built from the bi-encoder's token ids`,
        );
    }
    const opened = openCrossEncoder({ device: o.device, pathToModel: dir, precision: o.precision });
    model = opened.model;
    model.encoder.bert.keepWeightCopy(); // reranking only
    recorded = opened.windows;
  } catch (e) {
    throw rejected(dir, e);
  }
  if (model.config.vocabSize !== o.tokenizer.vocabSize)
    throw new CheckpointRejectedError(
      dir,
      `${dir}: the cross-encoder embeds ${model.config.vocabSize} token ids, the bi-encoder's vocabulary has ${o.tokenizer.vocabSize}: they must share one vocabulary`,
    );
  const windows: RerankWindows = recorded
    ? { maxContextLength: recorded.maxContextLength, maxSeqLength: recorded.maxSeqLength }
    : { maxContextLength: o.ctxLen, maxSeqLength: pairLength(o.ctxLen, o.candLen, Number.MAX_SAFE_INTEGER) };
  if (!recorded)
    o.warnings.push(
      `${dir}: the cross-encoder records no pair windows (config.json biofeg.cross); segment ids from ${windows.maxContextLength}, pairs of ${windows.maxSeqLength} tokens`,
    );
  else if (recorded.maxContextLength !== o.ctxLen || recorded.maxCandLength !== o.candLen)
    o.warnings.push(
      `${dir}: the cross-encoder was trained on windows ${recorded.maxContextLength}/${recorded.maxCandLength}, the Linker builds ${o.ctxLen}/${o.candLen}; results may be worse`,
    );
  const seq = pairLength(o.ctxLen, o.candLen, windows.maxSeqLength);
  if (seq > model.config.maxPositions)
    throw new CheckpointRejectedError(
      dir,
      `${dir}: pairs of ${seq} tokens exceed the cross-encoder's ${model.config.maxPositions} positions`,
    );
  const maxPairs = Math.max(1, Math.floor(o.maxBatchTokens / Math.max(1, seq)));
  const ws = new Workspace(o.device);
  const { ctxLen, candLen } = o;
  return {
    dir,
    windows,
    async score(contexts, rows, n, k) {
      const cands = new Int32Array(n * k * candLen);
      for (let i = 0; i < n * k; i++) {
        const e = rows[i]!;
        cands.set(candidateRepresentation(o.tokenizer, o.texts.name(e), candLen, o.names.name(e)).ids, i * candLen);
      }
      const pairs = pairInputs(contexts, ctxLen, cands, candLen, n, k, windows);
      // crossStep as evaluation runs it (no dropout, no gradient); the labels only feed its unused loss.
      const r = await crossStep(model, ws, pairs, k, new Int32Array(n), { dropout: false, grad: false, seed: 0n, maxPairs });
      return r.scores;
    },
    dispose() {
      ws.dispose();
    },
  };
}

/**
 * Each mention's k candidates sorted by cross-encoder score, best first; equal scores keep the
 * bi-encoder's order (np.argmax's first of equal maxima, as evaluation picks); NaN scores go last
 * (in the bi-encoder's order), so the order is total whatever the model returns. In place.
 */
export function reorderByScore(indices: Int32Array, scores: Float32Array, cross: Float32Array, n: number, k: number): void {
  const order = new Int32Array(k);
  const ix = new Int32Array(k);
  const sc = new Float32Array(k);
  const cs = new Float32Array(k);
  for (let i = 0; i < n; i++) {
    const at = i * k;
    for (let j = 0; j < k; j++) order[j] = j;
    order.sort((a, b) => {
      const x = cross[at + a]!,
        y = cross[at + b]!;
      if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return a - b; // also +-Infinity pairs, whose difference is NaN
      if (Number.isNaN(x)) return 1;
      if (Number.isNaN(y)) return -1;
      return y > x ? 1 : -1;
    });
    for (let j = 0; j < k; j++) {
      ix[j] = indices[at + order[j]!]!;
      sc[j] = scores[at + order[j]!]!;
      cs[j] = cross[at + order[j]!]!;
    }
    indices.set(ix, at);
    scores.set(sc, at);
    cross.set(cs, at);
  }
}
