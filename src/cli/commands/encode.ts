// `biofeg encode`: JSONL texts or token ids -> a float32 .npy matrix of BERT encodings, one row
// per input line (the last layer's [CLS] vector, or the pooled output with --pooled).
import { InvalidArgumentError, Option, type Command } from 'commander';

import { encodeRows, openEncoder } from '../../encode/encode.js';
import { readEncodeInput } from '../../encode/input.js';
import { writeNpyF32 } from '../../encode/npy.js';
import type { EncoderSide } from '../../models/biencoder.js';
import { acceptSnakeCase, intAtLeast } from '../options.js';
import { createProgress, type ProgressStream } from '../progress.js';
import { chooseDevice, modelTokenizer, precisionOf } from '../setup.js';

export interface EncodeFlags {
  model: string;
  input: string;
  output: string;
  pooled?: boolean;
  batchSize?: number;
  /** Default: the model's max_position_embeddings. */
  maxLength?: number;
  device?: 'cpu' | 'cuda' | 'auto';
  threads?: number;
  /** f32 (default) or bf16 (CUDA mixed precision). */
  precision?: string;
  side?: EncoderSide;
  /** A vocab.txt (lower-cased) instead of the model folder's tokenizer. */
  vocab?: string;
  silent?: boolean;
}

export interface EncodeResult {
  rows: number;
  hidden: number;
  output: string;
}

/** The whole command, callable from tests. Nothing is written unless every line is valid and encoded. */
export async function runEncode(f: EncodeFlags, stream?: ProgressStream): Promise<EncodeResult> {
  const device = chooseDevice({ device: f.device ?? 'auto', ...(f.threads !== undefined ? { threads: f.threads } : {}) });
  const { bert } = openEncoder(f.model, device, f.side, precisionOf(f.precision, device));
  const maxLength = f.maxLength ?? bert.config.maxPositions;
  if (maxLength > bert.config.maxPositions)
    throw new Error(`encode: --max-length ${maxLength} exceeds the model's max_position_embeddings ${bert.config.maxPositions}`);
  const rows = readEncodeInput(f.input, {
    maxLength,
    vocabSize: bert.config.vocabSize,
    tokenizer: () => modelTokenizer(f.vocab === undefined ? f.model : undefined, f.vocab).tokenizer,
  });
  const bar = createProgress({ label: 'encode', total: rows.length, silent: f.silent ?? false, unit: 'seq', ...(stream ? { stream } : {}) });
  let out: Float32Array;
  try {
    out = await encodeRows(bert, rows, { batchSize: f.batchSize ?? 64, pooled: f.pooled ?? false, onBatch: (n) => bar.tick(n) });
  } finally {
    bar.stop();
  }
  const hidden = bert.config.hiddenSize;
  writeNpyF32(f.output, out, [rows.length, hidden]);
  return { rows: rows.length, hidden, output: f.output };
}


export function register(program: Command): void {
  const cmd = program
    .command('encode')
    .description('encode {"text": ...} or {"input_ids": [...], "attention_mask": [...]} lines with a BERT into a float32 .npy (one row per line)')
    .requiredOption('--model <dir>', 'HF BERT folder (config.json + model.safetensors or pytorch_model.bin), or a bi-encoder checkpoint with --side')
    .requiredOption('--input <file>', 'JSONL input')
    .requiredOption('--output <file>', '.npy output, written atomically')
    .option('--pooled', 'the pooled output (dense + tanh over [CLS]) instead of the last-layer [CLS] vector')
    .addOption(new Option('--batch-size <n>', 'sequences per forward').argParser(intAtLeast(1, 'batch-size')).default(64))
    .addOption(new Option('--max-length <n>', 'cut texts to n tokens keeping [SEP] (default: max_position_embeddings)').argParser(intAtLeast(2, 'max-length')))
    .addOption(new Option('--device <device>', 'cpu, cuda or auto').choices(['cpu', 'cuda', 'auto']).default('auto'))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(new Option('--precision <p>', 'f32, or bf16 mixed precision (CUDA)').choices(['f32', 'bf16']).default('f32'))
    .addOption(new Option('--side <side>', 'encoder of a bi-encoder checkpoint').choices(['context', 'candidate']))
    .option('--vocab <file>', 'WordPiece vocab.txt (lower-cased) instead of the model folder\'s tokenizer')
    .option('--silent', 'no progress output')
    .action(async (f: EncodeFlags) => {
      const r = await runEncode(f);
      if (!f.silent) process.stderr.write(`encode: wrote ${r.output} (${r.rows} x ${r.hidden} float32)\n`);
    });
  acceptSnakeCase(cmd);
}
