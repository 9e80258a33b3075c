/**
 * Hugging Face model folders: config.json plus model.safetensors or pytorch_model.bin (sharded
 * `*.index.json` variants too). Loading strips the `bert.` prefix of task-head checkpoints and
 * renames TF-era LayerNorm gamma/beta; saving writes model.safetensors + config.json (and any extra
 * files such as vocab.txt) into a temporary sibling folder that is renamed into place.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFolderAtomic } from '../data/atomic.js';
import { readRegularFileSync } from '../data/files.js';
import type { ReadOptions } from './limits.js';
import {
  BERT_BUFFERS,
  BERT_PREFIX,
  bertParamSpecs,
  hasBertPrefix,
  matchParams,
  modernizeName,
  type BertDims,
  type MatchReport,
} from './hf-names.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { readTorchCheckpoint } from './torch-zip.js';
import { CheckpointError, isFloatFileDType, requireFinite, type CheckpointTensor, type FloatTensor, type HostTensor } from './types.js';

/** The config.json fields a BERT needs (snake_case as in the file); other fields are kept. */
export interface HfBertConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  [key: string]: unknown;
}

/** transformers' BertConfig defaults, used for fields a config.json leaves out (as HF does). */
export const BERT_CONFIG_DEFAULTS: Readonly<HfBertConfig> = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
};

const INT_FIELDS = [
  'vocab_size',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'intermediate_size',
  'max_position_embeddings',
  'type_vocab_size',
] as const;

/**
 * Sanity bounds of the sizes (far above any BERT: BERT-large has 24 layers, hidden 1024, a vocab
 * of 30k-120k), so that a hostile config.json cannot make the parameter list itself huge.
 */
const INT_MAX: Readonly<Record<(typeof INT_FIELDS)[number], number>> = {
  vocab_size: 1 << 24,
  hidden_size: 1 << 16,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  intermediate_size: 1 << 18,
  max_position_embeddings: 1 << 20,
  type_vocab_size: 1 << 16,
};
const REAL_FIELDS = ['layer_norm_eps', 'hidden_dropout_prob', 'attention_probs_dropout_prob'] as const;

/** Validate a parsed config.json and fill defaults. */
export function normalizeBertConfig(raw: unknown, file = 'config.json'): HfBertConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(file, 'expected a JSON object');
  const cfg: HfBertConfig = { ...BERT_CONFIG_DEFAULTS, ...(raw as Record<string, unknown>) } as HfBertConfig;
  if (cfg.model_type !== 'bert') throw new CheckpointError(file, `model_type is ${JSON.stringify(cfg.model_type)}, expected "bert"`);
  for (const f of INT_FIELDS) {
    const v = cfg[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (f === 'num_hidden_layers' ? 0 : 1)) {
      throw new CheckpointError(file, `${f} must be a positive integer, got ${JSON.stringify(v)}`);
    }
    if (v > INT_MAX[f]) throw new CheckpointError(file, `${f} ${v} is over ${INT_MAX[f]}, the most a BERT config is read with`);
  }
  for (const f of REAL_FIELDS) {
    const v = cfg[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new CheckpointError(file, `${f} must be a non-negative number, got ${JSON.stringify(v)}`);
  }
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    throw new CheckpointError(file, `hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`);
  }
  if (typeof cfg.hidden_act !== 'string') throw new CheckpointError(file, 'hidden_act must be a string');
  return cfg;
}

/** Most bytes of a config.json or shard index read (far above any real one). */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

/** A small JSON file of a model folder, parsed; every failure is a CheckpointError naming it. */
function readJsonFile(path: string, what: string): unknown {
  const bytes = readRegularFileSync(path, MAX_JSON_FILE_BYTES, (d) => new CheckpointError(path, d), what);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new CheckpointError(path, `${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(path, `invalid JSON: ${(e as Error).message}`);
  }
}

export function readHfConfig(path: string): HfBertConfig {
  return normalizeBertConfig(readJsonFile(path, 'a config.json'), path);
}

export function bertDims(cfg: HfBertConfig, pooler = true): BertDims {
  return {
    vocabSize: cfg.vocab_size,
    hiddenSize: cfg.hidden_size,
    numLayers: cfg.num_hidden_layers,
    intermediateSize: cfg.intermediate_size,
    maxPositions: cfg.max_position_embeddings,
    typeVocabSize: cfg.type_vocab_size,
    pooler,
  };
}

export interface HfFolder {
  config: HfBertConfig;
  /** BERT weights with HF names, `bert.` prefix removed, gamma/beta renamed. */
  tensors: Map<string, FloatTensor>;
  /** Everything else in the file: task heads (`cls.*` ...), integer buffers (position_ids). */
  extra: Map<string, CheckpointTensor>;
  /** The weight file(s) read. */
  files: string[];
  /** Whether the names carried the `bert.` prefix. */
  prefixed: boolean;
  /** `tensors` against the BertModel parameter list of `config` (pooler included). */
  report: MatchReport<FloatTensor>;
}

function readWeightsFile(path: string, opts: ReadOptions = {}): Map<string, CheckpointTensor> {
  return path.endsWith('.safetensors') ? readSafetensors(path, undefined, opts).tensors : readTorchCheckpoint(path, opts);
}

/**
 * A checkpoint file of either format, by its name (.safetensors, else torch.save). With
 * `opts.expect` (the model's names and shapes), an unexpected or mis-shaped tensor is refused
 * before any data is read; `opts.limits` overrides the budgets of ./limits.ts.
 */
export function readCheckpointFile(path: string, opts: ReadOptions = {}): Map<string, CheckpointTensor> {
  return readWeightsFile(path, opts);
}

function readSharded(dir: string, indexName: string, opts: ReadOptions): { tensors: Map<string, CheckpointTensor>; files: string[] } {
  const indexPath = join(dir, indexName);
  const index = readJsonFile(indexPath, 'a shard index');
  const map = typeof index === 'object' && index !== null ? (index as { weight_map?: unknown }).weight_map : undefined;
  if (typeof map !== 'object' || map === null) throw new CheckpointError(indexPath, 'no "weight_map" object');
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  const tensors = new Map<string, CheckpointTensor>();
  const files: string[] = [];
  for (const s of shards) {
    if (typeof s !== 'string' || s.includes('/') || s.includes('\\') || s.startsWith('.'))
      throw new CheckpointError(indexPath, `bad shard name ${JSON.stringify(s)}`);
    const p = join(dir, s);
    files.push(p);
    for (const [k, v] of readWeightsFile(p, { limits: opts.limits })) {
      if (tensors.has(k)) throw new CheckpointError(p, `tensor ${k} appears in two shards`);
      tensors.set(k, v);
    }
  }
  return { tensors, files };
}

/** Read an HF BERT folder (model.safetensors preferred over pytorch_model.bin); `opts.limits` overrides the read budgets. */
export function loadHfFolder(dir: string, opts: Pick<ReadOptions, 'limits'> = {}): HfFolder {
  const config = readHfConfig(join(dir, 'config.json'));
  let raw: Map<string, CheckpointTensor>;
  let files: string[];
  const pick = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'].find((f) =>
    existsSync(join(dir, f)),
  );
  if (!pick) throw new CheckpointError(dir, 'no model.safetensors or pytorch_model.bin in the folder');
  if (pick.endsWith('.index.json')) ({ tensors: raw, files } = readSharded(dir, pick, opts));
  else {
    files = [join(dir, pick)];
    raw = readWeightsFile(files[0]!, opts);
  }
  const prefixed = hasBertPrefix(raw.keys());
  const tensors = new Map<string, FloatTensor>();
  const extra = new Map<string, CheckpointTensor>();
  for (const [k0, t] of raw) {
    const mine = !prefixed || k0.startsWith(BERT_PREFIX);
    const k = modernizeName(prefixed && mine ? k0.slice(BERT_PREFIX.length) : k0);
    if (!mine || !isFloatFileDType(t.dtype) || BERT_BUFFERS.includes(k)) {
      extra.set(k0, t);
      continue;
    }
    if (tensors.has(k)) throw new CheckpointError(files[0]!, `two tensors map to ${k}`);
    requireFinite(files.length === 1 ? files[0]! : dir, k0, t.data);
    tensors.set(k, { shape: t.shape, data: t.data as Float32Array });
  }
  const report = matchParams(bertParamSpecs(bertDims(config, true)), tensors);
  return { config, tensors, extra, files, prefixed, report };
}

export interface SaveHfOptions {
  /** Extra files to put in the folder, e.g. { 'vocab.txt': text }. */
  extraFiles?: Record<string, string | Uint8Array>;
  /** safetensors `__metadata__`; {format: 'pt'} by default (transformers checks it). */
  metadata?: Record<string, string>;
}

/**
 * Write `dir` = config.json + model.safetensors (+ extra files), all or nothing: the folder is built
 * beside `dir` and renamed into place, replacing an existing one only once complete.
 */
export function saveHfFolder(
  dir: string,
  config: HfBertConfig | Record<string, unknown>,
  tensors: ReadonlyMap<string, HostTensor>,
  opts: SaveHfOptions = {},
): void {
  const cfg: Record<string, unknown> = { ...config };
  cfg['model_type'] ??= 'bert';
  cfg['architectures'] ??= ['BertModel'];
  normalizeBertConfig(cfg, join(dir, 'config.json'));
  for (const name of Object.keys(opts.extraFiles ?? {})) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.') || name === 'config.json' || name === 'model.safetensors') {
      throw new CheckpointError(dir, `bad extra file name ${JSON.stringify(name)}`);
    }
  }
  writeFolderAtomic(dir, (tmp) => {
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, opts.metadata ?? { format: 'pt' });
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    for (const [name, content] of Object.entries(opts.extraFiles ?? {})) writeFileSync(join(tmp, name), content);
  });
}
