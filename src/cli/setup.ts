// What the model commands share: device and threads, the tokenizer of a model (and how worker
// threads rebuild it), and the token caches of a prepared folder.
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ensureTokenCache } from '../data/cache-build.js';
import { cacheDirFor } from '../data/cache-dir.js';
import { preparedPath } from '../data/prepared.js';
import type { TokenCache } from '../data/token-cache.js';
import type { TokenizerFactory } from '../data/tokenizer-factory.js';
import { openBiEncoder, type Opened } from '../train/biencoder-checkpoint.js';
import { intAtLeast } from './options.js';
import type { TrainSettings } from '../train/train-biencoder.js';
import type { BertPrecision } from '../models/bert.js';
import { pickDevice, setThreads, type DeviceName } from '../native.js';
import { fromVocab, loadTokenizer } from '../tokenize/load.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';

export { cacheDirFor };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.endsWith('.ts') ? [] : ['..']));
/** The built-in dataset and its vocabulary (the tokenizer of built-in model sizes). */
export const DEFAULT_DATA = join(REPO_ROOT, 'data', 'default');
export const DEFAULT_VOCAB = join(DEFAULT_DATA, 'vocab.txt');
const TOKENIZE_MODULE = join(REPO_ROOT, import.meta.url.endsWith('.ts') ? 'src' : 'dist/src', 'tokenize', import.meta.url.endsWith('.ts') ? 'index.ts' : 'index.js');

export function chooseDevice(o: { device?: string; no_cuda?: boolean; threads?: number }): DeviceName {
  if (o.threads !== undefined) setThreads(o.threads);
  const want = o.no_cuda ? 'cpu' : (o.device ?? 'auto');
  if (want !== 'cpu' && want !== 'cuda' && want !== 'auto') throw new Error(`--device must be cpu, cuda or auto, got ${want}`);
  return pickDevice(want);
}

export interface ModelTokenizer {
  tokenizer: WordPieceTokenizer;
  factory: TokenizerFactory;
  /** The vocab.txt to copy into checkpoints, when there is one. */
  vocabPath?: string;
  lowercase: boolean;
}

/** --vocab wins; else the model folder's tokenizer; else the built-in vocabulary. */
export function modelTokenizer(dir: string | undefined, vocab: string | undefined): ModelTokenizer {
  if (vocab === undefined && dir === undefined) vocab = DEFAULT_VOCAB;
  if (vocab !== undefined) {
    return { tokenizer: fromVocab(vocab, { lowercase: true }), factory: { module: TOKENIZE_MODULE, export: 'fromVocab', args: [vocab, { lowercase: true }] }, vocabPath: vocab, lowercase: true };
  }
  const t = loadTokenizer(dir!);
  const v = join(dir!, 'vocab.txt');
  return { tokenizer: t, factory: { module: TOKENIZE_MODULE, export: 'loadTokenizer', args: [dir] }, vocabPath: existsSync(v) ? v : undefined, lowercase: t.settings?.lowercase ?? true };
}


export interface CacheRequest {
  kind: 'mentions' | 'entities';
  source: string;
  cacheDir: string;
  /** File stem: the split name, or 'entities'. */
  name: string;
  maxContextLength: number;
  maxCandLength: number;
  onProgress?: (rows: number) => void;
}

/** Opens (building or rebuilding when stale) the token cache of a split or of the entity dictionary. */
export async function openCache(t: ModelTokenizer, r: CacheRequest): Promise<TokenCache> {
  const len = r.kind === 'mentions' ? r.maxContextLength : r.maxCandLength;
  const res = await ensureTokenCache({
    kind: r.kind, source: r.source, cachePath: join(r.cacheDir, `${r.name}.${len}.tokens`), tokenizer: t.tokenizer, factory: t.factory,
    maxContextLength: r.maxContextLength, maxCandLength: r.maxCandLength, ...(r.onProgress ? { onProgress: r.onProgress } : {}),
  });
  return res.cache;
}

export interface ModelFlags {
  path_to_model?: string;
  bert_model: string;
  vocab?: string;
  add_linear: boolean;
  out_dim: number;
  seed: number;
  dropout?: number;
  /** --precision: f32 (default) or bf16 (CUDA mixed precision). */
  precision?: string;
}

/** Checks --precision; bf16 needs the CUDA device (the CPU backend computes in f32). */
export function precisionOf(p: string | undefined, device: DeviceName): BertPrecision {
  const v = p ?? 'f32';
  if (v !== 'f32' && v !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${v}`);
  if (v === 'bf16' && device !== 'cuda') throw new Error('--precision bf16 runs on CUDA only (the CPU backend computes in f32); use --device cuda or --precision f32');
  return v;
}

/** The bi-encoder a command names (checkpoint, HF folder or built-in size) and its tokenizer. */
export function openModel(f: ModelFlags, device: DeviceName): Opened & { tok: ModelTokenizer } {
  const ck = f.path_to_model ? (statSync(f.path_to_model).isDirectory() ? f.path_to_model : dirname(f.path_to_model)) : undefined;
  const ckHasTokenizer = ck !== undefined && (existsSync(join(ck, 'vocab.txt')) || existsSync(join(ck, 'tokenizer.json')));
  const bertDir = existsSync(f.bert_model) && statSync(f.bert_model).isDirectory() ? f.bert_model : undefined;
  const tok = modelTokenizer(ckHasTokenizer ? ck : bertDir, f.vocab);
  const opened = openBiEncoder({
    device, pathToModel: f.path_to_model, bertModel: f.bert_model, vocabSize: tok.tokenizer.vocabSize, seed: f.seed,
    // Flags win only when given explicitly; a checkpoint's own settings otherwise.
    settings: f.add_linear ? { addLinear: true, outDim: f.out_dim } : {},
    ...(f.dropout !== undefined ? { dropout: f.dropout } : {}),
    precision: precisionOf(f.precision, device),
  });
  return { ...opened, tok };
}

/** The values of addRunOptions' options, as a command's action reads them. */
export interface RunOptions {
  device?: string;
  threads?: number;
  vocab?: string;
  precision?: string;
  resume?: boolean;
  dropout?: number;
}

export function readRunOptions(cmd: Command): RunOptions {
  const o = cmd.opts<RunOptions>();
  return { device: o.device, threads: o.threads, vocab: o.vocab, precision: o.precision, resume: o.resume, ...(o.dropout !== undefined ? { dropout: o.dropout } : {}) };
}

/** The (biofeg) options every model command shares: --device, --threads, --vocab, --precision [, --resume]. */
export function addRunOptions(cmd: Command, o: { resume?: boolean; dropout?: boolean } = {}): Command {
  cmd
    .addOption(new Option('--device <device>', '(biofeg) cpu, cuda or auto').choices(['cpu', 'cuda', 'auto']).default('auto'))
    .addOption(new Option('--threads <n>', '(biofeg) CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(new Option('--vocab <file>', '(biofeg) WordPiece vocab.txt; built-in sizes default to data/default/vocab.txt'))
    .addOption(new Option('--precision <p>', '(biofeg) BERT compute: f32, or bf16 mixed precision (CUDA; f32 master weights and checkpoints)').choices(['f32', 'bf16']).default('f32'));
  if (o.resume) cmd.addOption(new Option('--resume', '(biofeg) continue from the newest checkpoint in --output_path (last/ or epoch_N/)'));
  if (o.dropout) cmd.addOption(new Option('--dropout <p>', '(biofeg) BERT hidden and attention dropout instead of the config\'s (0 helps a small model trained from scratch)').argParser(Number.parseFloat));
  return cmd;
}

export interface SplitFlags {
  data_path: string;
  entity_dict_path?: string;
  max_context_length: number;
  max_cand_length: number;
}

/** Token caches of the train and val mentions and of the entity dictionary of a prepared folder. */
export async function openTrainVal(f: SplitFlags, tok: ModelTokenizer, out: string, say: (s: string) => void) {
  const entityDict = f.entity_dict_path ?? join(f.data_path, '..', 'documents', 'all_documents.json');
  if (!existsSync(entityDict)) throw new Error(`--entity_dict_path: ${entityDict} not found`);
  const lens = { maxContextLength: f.max_context_length, maxCandLength: f.max_cand_length, cacheDir: cacheDirFor(f.data_path, out) };
  say('tokenizing (cached after the first run)');
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', ...lens });
  const split = async (name: string) => ({ mentions: await openCache(tok, { kind: 'mentions', source: preparedPath(f.data_path, name), name, ...lens }), entities });
  return { train: await split('train'), val: await split('val') };
}

export interface LoopFlags {
  learning_rate: number; num_train_epochs: number; train_batch_size: number; eval_batch_size: number;
  gradient_accumulation_steps: number; warmup_proportion: number; max_grad_norm: number; type_optimization: string;
  seed: number; print_interval: number; eval_interval: number; shuffle: boolean;
}

/** The original's training flags as the loop's settings. */
export function trainSettingsOf(f: LoopFlags): TrainSettings {
  return {
    learningRate: f.learning_rate, numTrainEpochs: f.num_train_epochs, trainBatchSize: f.train_batch_size,
    evalBatchSize: f.eval_batch_size, gradientAccumulationSteps: f.gradient_accumulation_steps,
    warmupProportion: f.warmup_proportion, maxGradNorm: f.max_grad_norm, typeOptimization: f.type_optimization,
    seed: f.seed, printInterval: f.print_interval, evalInterval: f.eval_interval, shuffle: f.shuffle,
  };
}
