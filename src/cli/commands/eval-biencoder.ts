// `biofeg eval-biencoder`: the original's blink/biencoder/eval_biencoder.py. Encodes the entity
// dictionary (cached on disk by model hash), retrieves the top-k entities of every mention of each
// --mode, prints recall@k as the original does and a table, writes <output_path>/eval_report.json,
// and with --save_topk_result the per-mode candidate files that hard-negative training reads.
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadHfFolder } from '../../checkpoint/hf-folder.js';
import type { TokenizerFactory } from '../../data/tokenizer-factory.js';
import { checkMode, evaluateModes, type ProgressFactory } from '../../eval/evaluate.js';
import type { PoolDType } from '../../eval/entity-pool.js';
import { bertConfigFromHf, type BertConfig } from '../../models/bert.js';
import { BiEncoder } from '../../models/biencoder.js';
import { pickDevice, setThreads, type DeviceName } from '../../native.js';
import { fromVocab, loadTokenizer } from '../../tokenize/load.js';
import type { WordPieceTokenizer } from '../../tokenize/types.js';
import { addFlags, parseModes, readFlags, type FlagValues } from '../options.js';
import { createProgress } from '../progress.js';

const FLAG_NAMES = [
  'data_path', 'output_path', 'bert_model', 'path_to_model', 'entity_dict_path', 'encode_batch_size', 'eval_batch_size',
  'top_k', 'max_context_length', 'max_cand_length', 'mode', 'save_topk_result', 'silent', 'add_linear', 'out_dim',
  'seed', 'no_cuda',
] as const;

export type EvalFlags = FlagValues<(typeof FLAG_NAMES)[number]> & {
  device: DeviceName | 'auto';
  threads?: number;
  vocab?: string;
  poolDtype: PoolDType;
  /** Tokenizer worker threads for token-cache builds (undefined: the cache builder's default). */
  workers?: number;
};

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The built-in dataset's vocabulary: the tokenizer of built-in sizes when --vocab is not given. */
export const DEFAULT_VOCAB = join(REPO_ROOT, 'data', 'default', 'vocab.txt');
const TOKENIZE_MODULE = join(REPO_ROOT, 'src', 'tokenize', import.meta.url.endsWith('.ts') ? 'index.ts' : 'index.js');

/** Built-in sizes for random initialisation (the BERT miniature shapes; vocab from the tokenizer). */
export const BUILTIN_SIZES: Record<string, { hidden: number; layers: number; heads: number; intermediate: number }> = {
  tiny: { hidden: 128, layers: 2, heads: 2, intermediate: 512 },
  mini: { hidden: 256, layers: 4, heads: 4, intermediate: 1024 },
  small: { hidden: 512, layers: 4, heads: 8, intermediate: 2048 },
  medium: { hidden: 512, layers: 8, heads: 8, intermediate: 2048 },
  base: { hidden: 768, layers: 12, heads: 12, intermediate: 3072 },
};

export interface OpenedModel {
  model: BiEncoder;
  tokenizer: WordPieceTokenizer;
  tokenizerFactory: TokenizerFactory;
  /** Provenance for the report (where the weights came from). */
  info: Record<string, string>;
}

/** Seeded uniform [0, 1) (mulberry32): random initialisation and the add_linear layer. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded N(0, 1) (Box-Muller on {@link uniform}). */
function gaussian(seed: number): () => number {
  const u = uniform(seed);
  return () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
}

/** HF BERT initialisation: weights N(0, 0.02), biases 0, LayerNorm weight 1. */
function randomInit(model: BiEncoder, seed: number): void {
  let s = seed;
  for (const enc of [model.context, model.candidate]) {
    const g = gaussian(s++);
    const flat = new Float32Array(enc.bert.numParameters);
    for (const e of enc.bert.layout) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      const fill = e.name.endsWith('LayerNorm.weight') ? () => 1 : e.name.endsWith('bias') ? () => 0 : () => 0.02 * g();
      for (let i = 0; i < n; i++) flat[e.offset + i] = fill();
    }
    enc.bert.parameters().upload(flat);
  }
}

function tokenizerOf(dir: string | undefined, vocab: string | undefined): { tokenizer: WordPieceTokenizer; factory: TokenizerFactory } {
  if (vocab !== undefined) {
    return { tokenizer: fromVocab(vocab, { lowercase: true }), factory: { module: TOKENIZE_MODULE, export: 'fromVocab', args: [vocab, { lowercase: true }] } };
  }
  return { tokenizer: loadTokenizer(dir!), factory: { module: TOKENIZE_MODULE, export: 'loadTokenizer', args: [dir] } };
}

/**
 * The model to evaluate and its tokenizer.
 * TODO(lead): `--path_to_model` (a bi-encoder checkpoint: ours or the original's pytorch_model.bin)
 * goes through `loadBiEncoder(path, device)` of src/train/biencoder-checkpoint.ts once it exists;
 * until then only --bert_model (an HF folder, both encoders from the same weights, as the original
 * before training) and the built-in sizes (random initialisation from --seed) are handled here.
 */
export async function openModel(f: EvalFlags, device: DeviceName): Promise<OpenedModel> {
  if (f.path_to_model !== undefined) {
    throw new Error('eval-biencoder: --path_to_model is not wired yet (waiting for src/train/biencoder-checkpoint.ts loadBiEncoder); use --bert_model for now');
  }
  const bm = f.bert_model;
  const linear = { addLinear: f.add_linear, outDim: f.out_dim };
  if (existsSync(bm) && statSync(bm).isDirectory()) {
    const folder = loadHfFolder(bm);
    const config = bertConfigFromHf(folder.config, { pooler: f.add_linear });
    const model = new BiEncoder({ config, device, ...linear });
    for (const enc of [model.context, model.candidate]) enc.bert.loadWeights(folder.tensors);
    // The original's additional_linear starts random when only --bert_model is given.
    if (model.context.linear) model.context.linear.init(uniform(f.seed));
    if (model.candidate.linear) model.candidate.linear.init(uniform(f.seed + 1));
    const { tokenizer, factory } = tokenizerOf(bm, f.vocab);
    return { model, tokenizer, tokenizerFactory: factory, info: { bertModel: resolve(bm), weights: folder.files.join(',') } };
  }
  const size = BUILTIN_SIZES[bm];
  if (!size) {
    throw new Error(`--bert_model ${bm}: not a folder (nothing is downloaded) and not a built-in size (${Object.keys(BUILTIN_SIZES).join(', ')})`);
  }
  const vocab = f.vocab ?? DEFAULT_VOCAB;
  const { tokenizer, factory } = tokenizerOf(undefined, vocab);
  const config: BertConfig = {
    vocabSize: tokenizer.vocabSize, hiddenSize: size.hidden, numLayers: size.layers, numHeads: size.heads,
    intermediateSize: size.intermediate, maxPositions: 512, typeVocabSize: 2, layerNormEps: 1e-12, pooler: f.add_linear,
    hiddenDropout: 0.1, attentionDropout: 0.1,
  };
  const model = new BiEncoder({ config, device, ...linear });
  randomInit(model, f.seed);
  if (model.context.linear) model.context.linear.init(uniform(f.seed + 2));
  if (model.candidate.linear) model.candidate.linear.init(uniform(f.seed + 3));
  return { model, tokenizer, tokenizerFactory: factory, info: { bertModel: bm, init: `random (seed ${f.seed})`, vocab: resolve(vocab) } };
}

function progressFactory(silent: boolean): ProgressFactory {
  return (label, total) => {
    if (total <= 0) return { tick: () => undefined, stop: () => undefined };
    const p = createProgress({ label, total, silent });
    return { tick: (d) => p.update(d), stop: () => p.stop() };
  };
}

/** The whole command, callable from tests: returns the report. */
export async function runEvalBiencoder(f: EvalFlags, out: { stdout: (s: string) => void; stderr: (s: string) => void } = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}) {
  if (f.output_path === undefined) throw new Error('eval-biencoder: --output_path is required');
  if (f.threads !== undefined) setThreads(f.threads);
  const device = pickDevice(f.no_cuda ? 'cpu' : f.device);
  const modes = parseModes(f.mode);
  modes.forEach(checkMode);
  const entityDict = f.entity_dict_path ?? join(f.data_path, '..', 'documents', 'all_documents.json');
  if (f.entity_dict_path === undefined && !existsSync(entityDict)) {
    throw new Error(`eval-biencoder: --entity_dict_path is required (no ${entityDict} beside the data folder)`);
  }
  const opened = await openModel(f, device);
  const report = await evaluateModes({
    model: opened.model,
    tokenizer: opened.tokenizer,
    tokenizerFactory: opened.tokenizerFactory,
    dataPath: f.data_path,
    entityDictPath: entityDict,
    outputPath: f.output_path,
    modes,
    topK: f.top_k,
    encodeBatchSize: f.encode_batch_size,
    evalBatchSize: f.eval_batch_size,
    maxContextLength: f.max_context_length,
    maxCandLength: f.max_cand_length,
    saveTopk: f.save_topk_result,
    poolDtype: f.poolDtype,
    ...(f.workers !== undefined ? { workers: f.workers } : {}),
    progress: progressFactory(f.silent),
    log: (line) => out.stderr(line + '\n'),
    modelInfo: opened.info,
  });
  out.stdout(report.table);
  return report;
}

function intAtLeast(min: number, name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new Error(`--${name} expects an integer >= ${min}, got ${v}`);
    return n;
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('eval-biencoder')
    .description('retrieve the top-k entities of every mention with a bi-encoder and report recall@k per mode (the original eval_biencoder.py)');
  addFlags(cmd, FLAG_NAMES, { defaults: { top_k: 64 }, required: ['output_path'] });
  cmd
    .addOption(new Option('--device <device>', '(biofeg) cpu, cuda or auto').choices(['cpu', 'cuda', 'auto']).default('auto'))
    .addOption(new Option('--threads <n>', '(biofeg) CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(new Option('--vocab <file>', '(biofeg) WordPiece vocab.txt (lower-cased) instead of the --bert_model folder\'s tokenizer; built-in sizes default to data/default/vocab.txt'))
    .addOption(new Option('--workers <n>', '(biofeg) tokenizer worker threads when a token cache is built (0 = main thread)').argParser(intAtLeast(0, 'workers')))
    .addOption(new Option('--pool-dtype <dtype>', '(biofeg) entity pool dtype (bf16: CUDA only)').choices(['f32', 'bf16']).default('f32'))
    .addHelpText('after', [
      '',
      'Modes read <data_path>/<mode>.jsonl (valid -> val.jsonl). Token caches go to <data_path>/cache (or',
      '<output_path>/cache when the data folder is read-only); entity encodings are cached as',
      '<output_path>/entity_embeddings.<hash>.f32. Outputs: <output_path>/eval_report.json and, with',
      '--save-topk-result, <output_path>/top<k>_candidates/<mode>.topk (gold inserted for train, mentions',
      'without a retrieved gold dropped otherwise). --top-k defaults to 64 here (the original: 10).',
    ].join('\n'))
    .action(async () => {
      const base = readFlags(cmd, FLAG_NAMES);
      const o = cmd.opts<{ device: DeviceName | 'auto'; threads?: number; vocab?: string; poolDtype: PoolDType; cuda?: boolean; workers?: number }>();
      // commander reads --no-cuda as the negation of a 'cuda' option, so the flag lands in o.cuda.
      const noCuda = base.no_cuda || o.cuda === false;
      await runEvalBiencoder({ ...base, no_cuda: noCuda, device: o.device, threads: o.threads, vocab: o.vocab, poolDtype: o.poolDtype, workers: o.workers });
    });
}
