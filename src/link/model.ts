// The bi-encoder a linker or an index is built from: a biofeg checkpoint folder or the original's
// (pytorch_model.bin + the HF BERT config.json + vocab.txt), its tokenizer, what inference needs
// (recorded in the checkpoint, else the defaults) and a hash of what the entity vectors depend on.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { readCheckpointFile } from '../checkpoint/index.js';
import { BiofegError, CheckpointRejectedError } from '../errors.js';
import { type BertConfig, bertConfigFromHf, type BertPrecision } from '../models/bert.js';
import { BiEncoder, BlinkEncoder } from '../models/biencoder.js';
import type { DeviceName } from '../native.js';
import { modelTokenizer } from '../stages/setup.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { DEFAULT_INFERENCE, type InferenceMeta, loadStateDict, openBiEncoder, readInferenceMeta } from '../train/biencoder-checkpoint.js';
import { type HashThread, hashInThread, loadContext } from './model-file.js';

/** Version of the model hash's recipe: a change of it makes every index refuse older models. */
const MODEL_HASH_VERSION = 1;

export interface LinkModel {
  /** The checkpoint folder. */
  dir: string;
  model: BiEncoder;
  tokenizer: WordPieceTokenizer;
  inference: InferenceMeta;
  /** True when the checkpoint recorded `inference`; false: today's defaults. */
  recorded: boolean;
  /** sha256 hex of the candidate side (see candidateHash). */
  hash: string;
}

function rejected(dir: string, e: unknown): Error {
  if (e instanceof BiofegError) return e;
  return new CheckpointRejectedError(dir, `${dir}: ${(e as Error).message ?? String(e)}`);
}

/** The original's folder: no biofeg block; the shape (pooler, additional_linear) read off the state_dict. */
function openOriginal(dir: string, device: DeviceName, precision: BertPrecision): BiEncoder {
  const file = ['pytorch_model.bin', 'model.safetensors'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new CheckpointRejectedError(dir, `${dir}: no pytorch_model.bin or model.safetensors`);
  const cfgPath = join(dir, 'config.json');
  const tensors = readCheckpointFile(file);
  const names = [...tensors.keys()];
  const linear = [...tensors].find(([k]) => k.endsWith('context_encoder.additional_linear.weight'));
  const pooler = names.some((k) => k.endsWith('pooler.dense.weight'));
  const config = bertConfigFromHf(JSON.parse(readFileSync(cfgPath, 'utf8')) as unknown, { pooler });
  const model = new BiEncoder({
    config,
    device,
    addLinear: linear !== undefined,
    ...(linear ? { outDim: linear[1].shape[0]! } : {}),
    precision,
  });
  loadStateDict(model, tensors, file);
  return model;
}

/** What candidateHash records of a model's shape. */
interface HashShape {
  embedDim: number;
  config: BertConfig;
  addLinear: boolean;
}

/** The JSON that starts candidateHash: the shape, the tokenizer and the window (no weights). */
export function candidateHashPrefix(shape: HashShape, tok: WordPieceTokenizer, maxCandLength: number): string {
  return JSON.stringify({
    v: MODEL_HASH_VERSION,
    embedDim: shape.embedDim,
    config: { ...shape.config, hiddenDropout: 0, attentionDropout: 0 },
    addLinear: shape.addLinear,
    tokenizer: tok.hash,
    maxCandLength,
  });
}

/**
 * sha256 over what an entity vector depends on: the candidate encoder's parameters, the model's
 * shape, the tokenizer (vocabulary and normalisation) and the candidate window. An index records
 * it; a linker whose model hashes otherwise refuses the index. (model-file.ts computes the same
 * digest from a checkpoint file without loading the candidate encoder.)
 */
export function candidateHash(model: BiEncoder, tok: WordPieceTokenizer, maxCandLength: number): string {
  const h = createHash('sha256');
  h.update(
    candidateHashPrefix(
      { embedDim: model.embedDim, config: model.config, addLinear: model.options.addLinear === true },
      tok,
      maxCandLength,
    ),
  );
  for (const part of model.candidate.parts()) {
    h.update(part.prefix);
    const flat = part.params.download() as Float32Array;
    h.update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  }
  return h.digest('hex');
}

/** What a checkpoint folder holds besides the weights; any failure is a CheckpointRejectedError naming it. */
function readFolder(dir: string) {
  if (typeof dir !== 'string' || dir === '') throw new CheckpointRejectedError(String(dir), 'model: expected a checkpoint folder');
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointRejectedError(dir, `${dir}: not a folder (expected a bi-encoder checkpoint folder)`);
  if (!existsSync(join(dir, 'config.json'))) throw new CheckpointRejectedError(dir, `${dir}: no config.json (not a checkpoint folder)`);
  if (!existsSync(join(dir, 'vocab.txt')) && !existsSync(join(dir, 'tokenizer.json')))
    throw new CheckpointRejectedError(dir, `${dir}: no vocab.txt or tokenizer.json beside the weights`);
  try {
    const recordedMeta = readInferenceMeta(dir);
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const ours = typeof raw['biofeg'] === 'object' && raw['biofeg'] !== null;
    const tok = modelTokenizer(dir, undefined);
    const inference = recordedMeta ?? { ...DEFAULT_INFERENCE, lowercase: tok.lowercase };
    return { raw, ours, tokenizer: tok.tokenizer, inference, recorded: recordedMeta !== undefined };
  } catch (e) {
    throw rejected(dir, e);
  }
}

/** Opens `dir` (a checkpoint folder) on `device`; any failure is a CheckpointRejectedError naming it. */
export function openLinkModel(dir: string, device: DeviceName, precision: BertPrecision): LinkModel {
  const f = readFolder(dir);
  try {
    const model = f.ours ? openBiEncoder({ device, pathToModel: dir, precision }).model : openOriginal(dir, device, precision);
    return {
      dir,
      model,
      tokenizer: f.tokenizer,
      inference: f.inference,
      recorded: f.recorded,
      hash: candidateHash(model, f.tokenizer, f.inference.maxCandLength),
    };
  } catch (e) {
    throw rejected(dir, e);
  }
}

/** A model opened for linking: its context encoder (the mention side) and what inference needs. */
export interface ContextModel extends Omit<LinkModel, 'hash' | 'model'> {
  encoder: BlinkEncoder;
}

/**
 * `dir` opened for linking (a Linker): where it is our checkpoint with model.safetensors, only the
 * context encoder is built and loaded (the candidate encoder is never built) and the candidate
 * hash is computed from the file on another thread (model-file.ts), resolving while the caller
 * goes on loading; otherwise as openLinkModel. The hash resolves to candidateHash's digest either
 * way, or rejects with a CheckpointRejectedError.
 */
export function openContextModel(dir: string, device: DeviceName, precision: BertPrecision): { lm: ContextModel; hash: Promise<string> } {
  const f = readFolder(dir);
  if (f.ours) {
    try {
      const ours = f.raw['biofeg'] as { add_linear?: boolean; out_dim?: number; pooler?: boolean };
      const addLinear = ours.add_linear ?? false;
      // As BiEncoder builds its context side.
      const encoder = new BlinkEncoder(
        bertConfigFromHf(f.raw, { pooler: ours.pooler ?? true }),
        device,
        'context_encoder',
        addLinear ? (ours.out_dim ?? 1) : undefined,
        precision,
      );
      const shape = { embedDim: encoder.outDim, config: encoder.bert.config, addLinear };
      // The hash starts once the file's layout is known, so it runs on the other core while the
      // context weights are read here rather than after them.
      const started: { hashing?: HashThread } = {};
      let plan: ReturnType<typeof loadContext>;
      try {
        plan = loadContext(dir, encoder, candidateHashPrefix(shape, f.tokenizer, f.inference.maxCandLength), undefined, (p) => {
          started.hashing = hashInThread(p);
        });
      } catch (e) {
        started.hashing?.stop();
        encoder.dispose();
        throw e;
      }
      if (plan && started.hashing) {
        const { raw: _raw, ours: _ours, ...rest } = f;
        const hash = started.hashing.digest.catch((e: unknown) => Promise.reject(rejected(dir, e)));
        return { lm: { dir, encoder, ...rest }, hash };
      }
      // The general path builds the whole bi-encoder: free this one now rather than at collection.
      encoder.dispose();
    } catch (e) {
      throw rejected(dir, e);
    }
  }
  const { hash, model, ...lm } = openLinkModel(dir, device, precision);
  return { lm: { ...lm, encoder: model.context }, hash: Promise.resolve(hash) };
}
