// BLINK's bi-encoder: a context BERT and a candidate BERT; the embedding is the last layer's
// [CLS] vector, or with add_linear the pooled output -> dropout 0.1 -> Linear(hidden, out_dim).
// Scores are dot products. Names follow the original state_dict (context_encoder.bert_model.…).
import type { DeviceName, NativeTensor } from '../native.js';
import { Bert, type BertConfig, type BertForwardInput, type BertOutputs, type BertPrecision, type ParamEntry } from './bert.js';
import { backwardThrough, type BackwardRunner } from '../comm/grad-overlap.js';
import { Linear } from './linear.js';

export type EncoderSide = 'context' | 'candidate';

export interface BiEncoderOptions {
  config: BertConfig;
  device: DeviceName;
  addLinear?: boolean;
  outDim?: number;
  /** 'bf16': mixed precision BERTs (CUDA; inference also on a CPU with AVX512_BF16; see Bert). The linear layer stays f32. */
  precision?: BertPrecision;
}

/** One token batch for an encoder: ids row-major [rows, seq], padding id 0 (BLINK's NULL_IDX). */
export interface TokenBatch {
  ids: Int32Array;
  rows: number;
  seq: number;
  /** BERT token type ids [rows, seq] (the cross-encoder's segments); omitted = all 0. */
  typeIds?: Int32Array;
}

/** A trainable piece with its flat buffers and BLINK-prefixed names, for optimiser and checkpoints. */
export interface ParamPart {
  prefix: string;
  params: NativeTensor;
  grads: NativeTensor;
  layout: ParamEntry[];
  /** The BERT whose flat gradient buffer `grads` is (its backward can all-reduce it in buckets). */
  bert?: Bert;
}

/** A BERT's flat buffers as a part under `prefix` (grads a getter: the buffer is made on first use, not for eval). */
export function bertPart(bert: Bert, prefix: string): ParamPart {
  return {
    prefix,
    params: bert.parameters(),
    get grads() {
      return bert.gradients();
    },
    layout: bert.layout,
    bert,
  };
}

/** 1 where the token is real (id != 0), as BLINK's to_bert_input. */
export function paddingMask(ids: Int32Array): Int32Array {
  const m = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) m[i] = ids[i] !== 0 ? 1 : 0;
  return m;
}

/**
 * BLINK's BertEncoder: a BERT whose output is the last layer's [CLS] vector, or with add_linear
 * the pooled output -> dropout 0.1 -> Linear. The bi-encoder's two sides and the GAN's
 * description encoder are each one of these.
 */
export class BlinkEncoder {
  readonly bert: Bert;
  readonly linear?: Linear;

  constructor(
    readonly config: BertConfig,
    device: DeviceName,
    /** The original's state_dict name of this encoder: context_encoder or cand_encoder. */
    readonly prefix: string,
    linearOut?: number,
    precision: BertPrecision = 'f32',
  ) {
    this.bert = new Bert({ ...config, pooler: config.pooler || linearOut !== undefined }, device, { precision });
    if (linearOut !== undefined) this.linear = new Linear(config.hiddenSize, linearOut, device);
  }

  get outDim(): number {
    return this.linear ? this.linear.outDim : this.config.hiddenSize;
  }

  /**
   * Embeddings [rows, outDim], valid until the next encode. `train` switches dropout on (seeded);
   * `grad` keeps what backward needs (default: as `train`; false is the light inference plan).
   */
  async encode(b: TokenBatch, o: { train: boolean; seed?: bigint; grad?: boolean }): Promise<NativeTensor> {
    const seed = o.seed ?? 0n;
    return this.head(await this.bert.forwardAsync(this.inputs(b, o.train, seed, o.grad ?? o.train)), b.rows, o.train, seed);
  }

  /**
   * `encode(b, { train: false })` on the calling thread (no thread-pool hop; the thread blocks
   * meanwhile): for a worker thread that owns the model and has nothing else to do (the Linker's).
   */
  encodeSync(b: TokenBatch): NativeTensor {
    return this.head(this.bert.forward(this.inputs(b, false, 0n, false)), b.rows, false, 0n);
  }

  private inputs(b: TokenBatch, train: boolean, seed: bigint, grad: boolean): BertForwardInput {
    return {
      inputIds: b.ids,
      attentionMask: paddingMask(b.ids),
      tokenTypeIds: b.typeIds ?? null,
      batch: b.rows,
      seq: b.seq,
      train,
      seed,
      grad,
      clsOnly: true, // only [CLS] / pooled are used
    };
  }

  private head(out: BertOutputs, rows: number, train: boolean, seed: bigint): NativeTensor {
    if (!this.linear) return out.cls;
    if (!out.pooled) throw new Error(`${this.prefix}: add_linear needs the pooler`);
    return this.linear.forward(out.pooled, rows, train, seed ^ 0x9e3779b97f4a7c15n);
  }

  /**
   * Accumulates the gradients of the last encode (made with grad) from dEmb [rows, outDim].
   * `runner`: the BERT's backward goes through it (a data-parallel step's all-reduce).
   */
  async backward(dEmb: NativeTensor, runner?: BackwardRunner): Promise<void> {
    await backwardThrough(runner, this.bert, this.linear ? { dPooled: this.linear.backward(dEmb) } : { dCls: dEmb });
  }

  /** Buffers under the original's names: `<outer><prefix>.bert_model.…`, `<outer><prefix>.additional_linear.…`. */
  parts(outer = ''): ParamPart[] {
    const p: ParamPart[] = [bertPart(this.bert, `${outer}${this.prefix}.bert_model.`)];
    if (this.linear)
      p.push({
        prefix: `${outer}${this.prefix}.additional_linear.`,
        params: this.linear.params,
        grads: this.linear.grads,
        layout: this.linear.layout,
      });
    return p;
  }

  zeroGrad(): void {
    this.bert.zeroGrad();
    this.linear?.zeroGrad();
  }

  /** Frees the BERT and the linear head now (an encoder built and then not used). */
  dispose(): void {
    this.bert.dispose();
    this.linear?.dispose();
  }
}

export class BiEncoder {
  readonly context: BlinkEncoder;
  readonly candidate: BlinkEncoder;
  readonly embedDim: number;

  constructor(readonly options: BiEncoderOptions) {
    const out = options.addLinear ? (options.outDim ?? 1) : undefined;
    const precision = options.precision ?? 'f32';
    this.context = new BlinkEncoder(options.config, options.device, 'context_encoder', out, precision);
    this.candidate = new BlinkEncoder(options.config, options.device, 'cand_encoder', out, precision);
    this.embedDim = out ?? options.config.hiddenSize;
  }

  get device(): DeviceName {
    return this.options.device;
  }
  get config(): BertConfig {
    return this.context.bert.config;
  }

  encoder(side: EncoderSide): BlinkEncoder {
    return side === 'context' ? this.context : this.candidate;
  }

  /** Embeddings [rows, embedDim], valid until this side's next forward. */
  encode(side: EncoderSide, b: TokenBatch, train = false, seed = 0n): Promise<NativeTensor> {
    return this.encoder(side).encode(b, { train, seed });
  }

  /** Accumulates gradients of this side's last forward from dEmb [rows, embedDim] (`runner`: see BlinkEncoder.backward). */
  backward(side: EncoderSide, dEmb: NativeTensor, runner?: BackwardRunner): Promise<void> {
    return this.encoder(side).backward(dEmb, runner);
  }

  zeroGrad(): void {
    this.context.zeroGrad();
    this.candidate.zeroGrad();
  }

  /** Every trainable buffer with its state_dict prefix (context first, as the original). */
  parts(): ParamPart[] {
    return [...this.context.parts(), ...this.candidate.parts()];
  }
}
