// Encoding with one BERT: texts (the library's BertEncoder) or a JSONL file to a .npy (the
// `encode` stage). An HF BERT folder, or one side of our bi-encoder checkpoint.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { count, detail, type TaskContext } from '../api/events.js';
import { encodeRows, openEncoder } from '../encode/encode.js';
import { readEncodeInput, type EncodeRow } from '../encode/input.js';
import { writeNpyF32 } from '../encode/npy.js';
import { AbortError, SettingsError } from '../errors.js';
import { FIELDS } from '../settings/fields.js';
import { Bert, type BertPrecision } from '../models/bert.js';
import { initBertParams, isBertSize, sizedConfig, type BertSize } from '../models/init.js';
import type { DeviceName } from '../native.js';
import type { EncoderSide } from '../models/biencoder.js';
import type { DeviceChoice, Precision } from '../settings/types.js';
import { encodeTruncated } from '../tokenize/truncate.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { readInferenceMeta } from '../train/biencoder-checkpoint.js';
import { chooseDevice, modelTokenizer, precisionOf } from './setup.js';

/** How {@link loadBert} opens a model. */
export interface LoadBertOptions {
  /** Default `auto`. */
  device?: DeviceChoice;
  threads?: number;
  /** Default `f32`; `bf16` needs CUDA or a CPU with AVX512_BF16. */
  precision?: Precision;
  /** Which encoder of a bi-encoder checkpoint (required for one; refused for an HF folder). */
  side?: EncoderSide;
  /** A vocab.txt (lower-cased) instead of the model folder's tokenizer (built-in sizes: the built-in dataset's). */
  vocab?: string;
  /** Built-in sizes only: the seed of the random initialisation (default: the `seed` setting's). */
  seed?: number;
}

/** Per call of encode. */
export interface EncodeOptions {
  /** The pooler output (dense + tanh over [CLS]) instead of the last layer's [CLS] vector. */
  pooled?: boolean;
  /** Sequences per forward (default 64). */
  batchSize?: number;
  /**
   * Texts are cut to this many tokens, [SEP] kept (default: a bi-encoder side's recorded window,
   * else the model's max_position_embeddings).
   */
  maxLength?: number;
}

/** What a loaded BERT says about itself. */
export interface BertFacts {
  hiddenSize: number;
  maxPositions: number;
  vocabSize: number;
  hasPooler: boolean;
  device: 'cpu' | 'cuda';
  /** 'hf' = an HF BERT folder; 'biencoder' = one side of a bi-encoder checkpoint; 'random' = a built-in size. */
  kind: 'hf' | 'biencoder' | 'random';
}

const int = (v: unknown, name: string, min: number): number | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new SettingsError(name, `encode: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
};

/** A built-in size initialised at random (seeded), over the vocabulary it will tokenise with. */
function randomBert(size: BertSize, device: DeviceName, precision: BertPrecision, o: LoadBertOptions): { bert: Bert; kind: 'random' } {
  if (o.side !== undefined)
    throw new SettingsError('side', `loadBert: side applies to bi-encoder checkpoints only; ${size} is a built-in size`);
  const vocabSize = modelTokenizer(undefined, o.vocab).tokenizer.vocabSize;
  const bert = new Bert(sizedConfig(size, vocabSize), device, { precision });
  bert.parameters().upload(initBertParams(bert.layout, bert.numParameters, o.seed ?? FIELDS.seed.default));
  return { bert, kind: 'random' };
}

/** One opened BERT and its tokenizer, kept for many encode calls. */
export class BertSession {
  private tok: WordPieceTokenizer | undefined;
  private constructor(
    readonly bert: Bert,
    readonly facts: BertFacts,
    private readonly model: string,
    private readonly vocab: string | undefined,
    /** A bi-encoder side's recorded window (its checkpoint's max_context_length / max_cand_length). */
    private readonly window?: number,
    /** The bi-encoder side, when the model is one side of a bi-encoder checkpoint. */
    private readonly side?: EncoderSide,
  ) {}

  static open(model: string, o: LoadBertOptions = {}): BertSession {
    if (typeof model !== 'string' || model === '') throw new SettingsError('model', 'loadBert: expected a model folder');
    const device = chooseDevice({ device: o.device ?? 'auto', threads: o.threads });
    const precision = precisionOf(o.precision ?? 'f32', device, 'inference');
    const { bert, kind } = isBertSize(model) ? randomBert(model, device, precision, o) : openEncoder(model, device, o.side, precision);
    bert.keepWeightCopy(); // a session only encodes
    const c = bert.config;
    const rec = kind === 'biencoder' && existsSync(model) && statSync(model).isDirectory() ? readInferenceMeta(model) : undefined;
    return new BertSession(
      bert,
      { hiddenSize: c.hiddenSize, maxPositions: c.maxPositions, vocabSize: c.vocabSize, hasPooler: c.pooler, device, kind },
      model,
      o.vocab,
      rec && (o.side === 'candidate' ? rec.maxCandLength : rec.maxContextLength),
      kind === 'biencoder' ? o.side : undefined,
    );
  }

  private tokenizer(): WordPieceTokenizer {
    const dir = this.vocab !== undefined || this.facts.kind === 'random' ? undefined : this.model;
    this.tok ??= modelTokenizer(dir, this.vocab).tokenizer;
    return this.tok;
  }

  private check(o: EncodeOptions, ctx?: TaskContext): { batchSize: number; maxLength: number; pooled: boolean } {
    const given = int(o.maxLength, 'maxLength', 2);
    if (ctx && given !== undefined && this.window !== undefined && given !== this.window)
      detail(ctx, `warning: maxLength ${given} given, but the checkpoint's side was trained with ${this.window}-token inputs`);
    const maxLength = given ?? this.window ?? this.facts.maxPositions;
    if (maxLength > this.facts.maxPositions)
      throw new SettingsError(
        'maxLength',
        `encode: maxLength (--max-length) ${maxLength} exceeds the model's max_position_embeddings ${this.facts.maxPositions}`,
      );
    if (o.pooled !== undefined && typeof o.pooled !== 'boolean') throw new SettingsError('pooled', 'encode: pooled must be true or false');
    return { batchSize: int(o.batchSize, 'batchSize', 1) ?? 64, maxLength, pooled: o.pooled ?? false };
  }

  /** [texts.length, hiddenSize] row-major. */
  async encodeTexts(texts: readonly string[], o: EncodeOptions, ctx: TaskContext): Promise<Float32Array> {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string'))
      throw new SettingsError('texts', 'encode: expected an array of strings');
    const c = this.check(o, ctx);
    const tok = this.tokenizer();
    // [CLS] text [SEP] cut to maxLength with [SEP] kept last, without tokenising a long text in full.
    const rows: EncodeRow[] = texts.map((t) => ({
      ids: Int32Array.from(tok.encodeTruncated ? tok.encodeTruncated(t, c.maxLength) : encodeTruncated(tok, t, c.maxLength)),
      mask: null,
    }));
    return this.encodeRows(rows, c, ctx);
  }

  async encodeRows(rows: readonly EncodeRow[], c: { batchSize: number; pooled: boolean }, ctx: TaskContext): Promise<Float32Array> {
    let done = 0;
    return encodeRows(this.bert, rows, {
      batchSize: c.batchSize,
      pooled: c.pooled,
      onBatch: (n) => {
        if (ctx.stop.requested) throw new AbortError('encode: aborted');
        done += n;
        count(ctx, 'encode', done, rows.length, 'seq');
      },
    });
  }

  /** A JSONL file of {"text"}, {"input_ids"} or (context side) {"mention", "context_left", "context_right"} lines -> a float32 .npy, written only when every line encoded. */
  async encodeFile(input: string, output: string, o: EncodeOptions, ctx: TaskContext): Promise<EncodeFileResult> {
    const c = this.check(o, ctx);
    const folder = dirname(resolve(output));
    if (!existsSync(folder) || !statSync(folder).isDirectory())
      throw new SettingsError('output', `encode: output (--output) ${output}: the folder ${folder} does not exist`);
    if (existsSync(output) && statSync(output).isDirectory())
      throw new SettingsError(
        'output',
        `encode: output (--output) ${output}: is a folder, expected a file name (e.g. ${join(output, 'embeddings.npy')})`,
      );
    const rows = readEncodeInput(input, {
      maxLength: c.maxLength,
      vocabSize: this.facts.vocabSize,
      tokenizer: () => this.tokenizer(),
      mentions: this.side === 'context',
    });
    const out = await this.encodeRows(rows, c, ctx);
    writeNpyF32(output, out, [rows.length, this.facts.hiddenSize]);
    return { rows: rows.length, hidden: this.facts.hiddenSize, output };
  }

  /** Native memory goes with the thread (or the GC); nothing else to release. */
  dispose(): void {
    this.tok = undefined;
  }
}

export interface EncodeFileResult {
  rows: number;
  hidden: number;
  output: string;
}

/** Settings of {@link encodeFile} (`biofeg encode`). */
export interface EncodeFileSettings extends LoadBertOptions, EncodeOptions {
  /** An HF BERT folder or a bi-encoder checkpoint (with side). */
  model: string;
  /** JSONL: {"text": ...} or {"input_ids": [...], "attention_mask": [...]} per line. */
  input: string;
  /** The .npy written (atomically). */
  output: string;
}

export async function runEncodeFile(s: EncodeFileSettings, ctx: TaskContext): Promise<EncodeFileResult> {
  for (const k of ['model', 'input', 'output'] as const)
    if (typeof s[k] !== 'string' || s[k] === '') throw new SettingsError(k, `encode: ${k} (--${k}) is required`);
  const session = BertSession.open(s.model, s);
  try {
    return await session.encodeFile(s.input, s.output, s, ctx);
  } finally {
    session.dispose();
  }
}
