// `biofeg eval-biencoder`: the original's blink/biencoder/eval_biencoder.py. Encodes the entity
// dictionary (cached on disk by model hash), retrieves the top-k entities of every mention of each
// --mode, prints recall@k as the original does and a table, writes <output_path>/eval_report.json,
// and with --save_topk_result the per-mode candidate files that hard-negative training reads.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TokenizerFactory } from '../../data/tokenizer-factory.js';
import { checkMode, evaluateModes, type ProgressFactory } from '../../eval/evaluate.js';
import type { PoolDType } from '../../eval/entity-pool.js';
import type { BiEncoder } from '../../models/biencoder.js';
import type { DeviceName } from '../../native.js';
import type { WordPieceTokenizer } from '../../tokenize/types.js';
import { addFlags, intAtLeast, parseModes, readFlags, type FlagValues } from '../options.js';
import { createProgress } from '../progress.js';
import { addRunOptions, chooseDevice, openModel as openSharedModel, readRunOptions, type RunOptions } from '../setup.js';

const FLAG_NAMES = [
  'data_path', 'output_path', 'bert_model', 'path_to_model', 'entity_dict_path', 'encode_batch_size', 'eval_batch_size',
  'top_k', 'max_context_length', 'max_cand_length', 'mode', 'save_topk_result', 'silent', 'add_linear', 'out_dim',
  'seed', 'no_cuda',
] as const;

export type EvalFlags = FlagValues<(typeof FLAG_NAMES)[number]> & RunOptions & {
  poolDtype: PoolDType;
  /** Tokenizer worker threads for token-cache builds (undefined: the cache builder's default). */
  workers?: number;
};

export interface OpenedModel {
  model: BiEncoder;
  tokenizer: WordPieceTokenizer;
  tokenizerFactory: TokenizerFactory;
  /** Provenance for the report (where the weights came from). */
  info: Record<string, string>;
}

/**
 * The model to evaluate and its tokenizer, opened as train-biencoder opens it (src/cli/setup.ts):
 * --path_to_model (our checkpoint folder, or a state_dict file such as the original's
 * pytorch_model.bin), else --bert_model (an HF folder: both encoders from it) or a built-in size
 * (random initialisation from --seed, the vocabulary of --vocab or data/default/vocab.txt).
 */
export function openModel(f: EvalFlags, device: DeviceName): OpenedModel {
  const opened = openSharedModel(f, device);
  const info: Record<string, string> = opened.checkpointDir !== undefined || f.path_to_model !== undefined
    ? { pathToModel: resolve(f.path_to_model!) }
    : existsSync(f.bert_model) ? { bertModel: resolve(f.bert_model) } : { bertModel: f.bert_model, init: `random (seed ${f.seed})` };
  if (opened.tok.vocabPath) info['vocab'] = resolve(opened.tok.vocabPath);
  return { model: opened.model, tokenizer: opened.tok.tokenizer, tokenizerFactory: opened.tok.factory, info };
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
  const device = chooseDevice(f);
  const modes = parseModes(f.mode);
  modes.forEach(checkMode);
  const entityDict = f.entity_dict_path ?? join(f.data_path, '..', 'documents', 'all_documents.json');
  if (f.entity_dict_path === undefined && !existsSync(entityDict)) {
    throw new Error(`eval-biencoder: --entity_dict_path is required (no ${entityDict} beside the data folder)`);
  }
  const opened = openModel(f, device);
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


export function register(program: Command): void {
  const cmd = program
    .command('eval-biencoder')
    .description('retrieve the top-k entities of every mention with a bi-encoder and report recall@k per mode (the original eval_biencoder.py)');
  addFlags(cmd, FLAG_NAMES, { defaults: { top_k: 64 }, required: ['output_path'] });
  addRunOptions(cmd);
  cmd
    .addOption(new Option('--workers <n>', '(biofeg) tokenizer worker threads when a token cache is built (0 = main thread)').argParser(intAtLeast(0, 'workers')))
    .addOption(new Option('--pool-dtype <dtype>', '(biofeg) entity pool dtype (bf16 halves the pool)').choices(['f32', 'bf16']).default('f32'))
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
      const o = cmd.opts<{ poolDtype: PoolDType; workers?: number }>();
      await runEvalBiencoder({ ...base, ...readRunOptions(cmd), poolDtype: o.poolDtype, workers: o.workers });
    });
}
