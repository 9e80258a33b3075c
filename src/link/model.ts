// The bi-encoder a linker or an index is built from: a biofeg checkpoint folder or the original's
// (pytorch_model.bin + the HF BERT config.json + vocab.txt), its tokenizer, what inference needs
// (recorded in the checkpoint, else the defaults) and a hash of what the entity vectors depend on.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { readCheckpointFile } from '../checkpoint/index.js';
import { BiofegError, CheckpointRejectedError } from '../errors.js';
import { bertConfigFromHf, type BertPrecision } from '../models/bert.js';
import { BiEncoder } from '../models/biencoder.js';
import type { DeviceName } from '../native.js';
import { modelTokenizer } from '../stages/setup.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { DEFAULT_INFERENCE, type InferenceMeta, loadStateDict, openBiEncoder, readInferenceMeta } from '../train/biencoder-checkpoint.js';

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

/**
 * sha256 over what an entity vector depends on: the candidate encoder's parameters, the model's
 * shape, the tokenizer (vocabulary and normalisation) and the candidate window. An index records
 * it; a linker whose model hashes otherwise refuses the index.
 */
export function candidateHash(model: BiEncoder, tok: WordPieceTokenizer, maxCandLength: number): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: MODEL_HASH_VERSION,
      embedDim: model.embedDim,
      config: { ...model.config, hiddenDropout: 0, attentionDropout: 0 },
      addLinear: model.options.addLinear === true,
      tokenizer: tok.hash,
      maxCandLength,
    }),
  );
  for (const part of model.candidate.parts()) {
    h.update(part.prefix);
    const flat = part.params.download() as Float32Array;
    h.update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  }
  return h.digest('hex');
}

/** Opens `dir` (a checkpoint folder) on `device`; any failure is a CheckpointRejectedError naming it. */
export function openLinkModel(dir: string, device: DeviceName, precision: BertPrecision): LinkModel {
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
    const model = ours ? openBiEncoder({ device, pathToModel: dir, precision }).model : openOriginal(dir, device, precision);
    const tok = modelTokenizer(dir, undefined);
    const inference = recordedMeta ?? { ...DEFAULT_INFERENCE, lowercase: tok.lowercase };
    return {
      dir,
      model,
      tokenizer: tok.tokenizer,
      inference,
      recorded: recordedMeta !== undefined,
      hash: candidateHash(model, tok.tokenizer, inference.maxCandLength),
    };
  } catch (e) {
    throw rejected(dir, e);
  }
}
