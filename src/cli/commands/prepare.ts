import { Option, type Command } from 'commander';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { prepare } from '../../data/prepare.js';
import { ensureTokenCache } from '../../data/cache-build.js';
import { SPLITS } from '../../data/arboel.js';
import type { WordPieceTokenizer } from '../../tokenize/types.js';
import type { TokenizerFactory } from '../../data/tokenizer-factory.js';

interface PrepareFlags {
  dataDir?: string;
  data_dir?: string;
  out?: string;
  outputPath?: string;
  output_path?: string;
  skipInvalid?: boolean;
  vocab?: string;
  tokenizer?: string;
  cased?: boolean;
  maxContextLength?: string;
  max_context_length?: string;
  maxCandLength?: string;
  max_cand_length?: string;
  workers?: string;
  silent?: boolean;
}

function int(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} expects a non-negative integer, got ${v}`);
  return n;
}

/** `biofeg prepare`: the original data_process.py (arboEL layout -> processed/*.jsonl), optionally token caches too. */
export function register(program: Command): void {
  program
    .command('prepare')
    .description('arboEL layout -> processed/{train,val,test,test_seen,test_unseen}.jsonl, identical to the original data_process.py')
    .option('--data-dir <dir>', 'folder with documents/ and mentions/ (arboEL layout)')
    .addOption(new Option('--data_dir <dir>').hideHelp())
    .option('--out <dir>', 'output folder (default <data-dir>/processed)')
    .addOption(new Option('--output-path <dir>').hideHelp())
    .addOption(new Option('--output_path <dir>').hideHelp())
    .option('--skip-invalid', 'skip and count mentions the original would reject, instead of failing')
    .option('--vocab <file>', 'also tokenise into token caches (<out>/cache/) with this WordPiece vocab.txt')
    .option('--tokenizer <dir>', 'also tokenise into token caches with the tokenizer saved in this folder')
    .option('--cased', 'with --vocab: do not lowercase')
    .option('--max-context-length <n>', 'context window for the mention caches', '128')
    .addOption(new Option('--max_context_length <n>').hideHelp())
    .option('--max-cand-length <n>', 'candidate window for the entity cache', '128')
    .addOption(new Option('--max_cand_length <n>').hideHelp())
    .option('--workers <n>', 'tokenizer worker threads (0 = main thread)', '2')
    .option('--silent', 'no progress output')
    .action(async (f: PrepareFlags) => {
      const dataDir = f.dataDir ?? f.data_dir;
      if (!dataDir) throw new Error('prepare: --data-dir is required');
      const outDir = f.out ?? f.outputPath ?? f.output_path ?? join(dataDir, 'processed');
      const bar = f.silent ? undefined : new cliProgress.SingleBar({ format: 'prepare {split} {value} mentions', stream: process.stderr }, cliProgress.Presets.shades_classic);
      bar?.start(0, 0, { split: 'train' });
      let report;
      try {
        report = await prepare({ dataDir, outDir, skipInvalid: f.skipInvalid, onProgress: (split, n) => bar?.update(n, { split }) });
      } finally {
        bar?.stop();
      }
      const caches: Record<string, unknown> = {};
      if (f.vocab || f.tokenizer) {
        const tokMod = await import('../../tokenize/index.js');
        const modPath = new URL('../../tokenize/index' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url).pathname;
        const factory: TokenizerFactory = f.vocab
          ? { module: modPath, export: 'fromVocab', args: [f.vocab, { lowercase: !f.cased }] }
          : { module: modPath, export: 'loadTokenizer', args: [f.tokenizer] };
        const tok: WordPieceTokenizer = f.vocab ? tokMod.fromVocab(f.vocab, { lowercase: !f.cased }) : tokMod.loadTokenizer(f.tokenizer!);
        const maxContextLength = int(f.maxContextLength ?? f.max_context_length, 'max-context-length', 128);
        const maxCandLength = int(f.maxCandLength ?? f.max_cand_length, 'max-cand-length', 128);
        const workers = int(f.workers, 'workers', 2);
        const jobs = [
          ...SPLITS.map((s) => ({ kind: 'mentions' as const, name: s, source: join(outDir, `${s}.jsonl`) })),
          { kind: 'entities' as const, name: 'entities', source: join(dataDir, 'documents', 'all_documents.json') },
        ];
        for (const j of jobs) {
          const len = j.kind === 'mentions' ? maxContextLength : maxCandLength;
          const r = await ensureTokenCache({ kind: j.kind, source: j.source, cachePath: join(outDir, 'cache', `${j.name}.${len}.tokens`), tokenizer: tok, factory, maxContextLength, maxCandLength, workers });
          caches[j.name] = { rows: r.cache.rows, rebuilt: r.rebuilt, reason: r.reason, overflows: r.cache.header.overflows };
          r.cache.close();
        }
      }
      process.stdout.write(JSON.stringify({ ...report, caches }, null, 2) + '\n');
    });
}
