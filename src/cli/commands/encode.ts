// `biofeg encode`: flags -> encodeFile: JSONL texts or token ids -> a float32 .npy matrix of BERT
// encodings, one row per input line (the last layer's [CLS] vector, or the pooled output with --pooled).
import { Option, type Command } from 'commander';

import { encodeFile } from '../../api/calls.js';
import type { EncodeFileSettings } from '../../stages/encode.js';
import { acceptSnakeCase, intAtLeast } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

interface EncodeFlags extends EncodeFileSettings {
  silent?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('encode')
    .description(
      'encode {"text": ...} or {"input_ids": [...], "attention_mask": [...]} lines with a BERT into a float32 .npy (one row per line)',
    )
    .requiredOption(
      '--model <dir>',
      'HF BERT folder (config.json + model.safetensors or pytorch_model.bin), or a bi-encoder checkpoint with --side',
    )
    .requiredOption('--input <file>', 'JSONL input')
    .requiredOption('--output <file>', '.npy output, written atomically')
    .option('--pooled', 'the pooled output (dense + tanh over [CLS]) instead of the last-layer [CLS] vector')
    .addOption(new Option('--batch-size <n>', 'sequences per forward (default: 64)').argParser(intAtLeast(1, 'batch-size')))
    .addOption(
      new Option('--max-length <n>', 'cut texts to n tokens keeping [SEP] (default: max_position_embeddings)').argParser(
        intAtLeast(2, 'max-length'),
      ),
    )
    .addOption(new Option('--device <device>', 'cpu, cuda or auto (default: auto)').choices(['cpu', 'cuda', 'auto']))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(new Option('--precision <p>', 'f32, or bf16 (CUDA; AVX512_BF16 CPUs: inference) (default: f32)').choices(['f32', 'bf16']))
    .addOption(new Option('--side <side>', 'encoder of a bi-encoder checkpoint (required for one)').choices(['context', 'candidate']))
    .option('--vocab <file>', "WordPiece vocab.txt (lower-cased) instead of the model folder's tokenizer")
    .option('--silent', 'no progress output')
    .action(async ({ silent, ...settings }: EncodeFlags) => {
      const r = await withSignals((o) => encodeFile(settings, { ...o, onProgress: drawProgress({ silent: silent ?? false }) }));
      if (!silent) process.stderr.write(`encode: wrote ${r.output} (${r.rows} x ${r.hidden} float32)\n`);
    });
  acceptSnakeCase(cmd);
}
