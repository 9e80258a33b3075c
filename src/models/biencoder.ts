// BLINK's bi-encoder: a context BERT and a candidate BERT; the embedding is the last layer's
// [CLS] vector, or with add_linear the pooled output -> dropout 0.1 -> Linear(hidden, out_dim).
// Scores are dot products. Names follow the original state_dict (context_encoder.bert_model.…).
import type { DeviceName, NativeTensor } from '../native.js';
import { Bert, type BertConfig, type BertPrecision, type ParamEntry } from './bert.js';
import { Linear } from './linear.js';

export type EncoderSide = 'context' | 'candidate';

export interface BiEncoderOptions {
  config: BertConfig;
  device: DeviceName;
  addLinear?: boolean;
  outDim?: number;
  /** 'bf16': mixed precision BERTs (CUDA only; see Bert). The linear layer stays f32. */
  precision?: BertPrecision;
}

/** One token batch for an encoder: ids row-major [rows, seq], padding id 0 (BLINK's NULL_IDX). */
export interface TokenBatch {
  ids: Int32Array;
  rows: number;
  seq: number;
}

/** A trainable piece with its flat buffers and BLINK-prefixed names, for optimiser and checkpoints. */
export interface ParamPart {
  prefix: string;
  params: NativeTensor;
  grads: NativeTensor;
  layout: ParamEntry[];
}

/** 1 where the token is real (id != 0), as BLINK's to_bert_input. */
export function paddingMask(ids: Int32Array): Int32Array {
  const m = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) m[i] = ids[i] !== 0 ? 1 : 0;
  return m;
}

class Encoder {
  readonly bert: Bert;
  readonly linear?: Linear;

  constructor(
    config: BertConfig,
    device: DeviceName,
    readonly prefix: string,
    linearOut?: number,
    precision: BertPrecision = 'f32',
  ) {
    this.bert = new Bert({ ...config, pooler: config.pooler || linearOut !== undefined }, device, { precision });
    if (linearOut !== undefined) this.linear = new Linear(config.hiddenSize, linearOut, device);
  }

  async forward(b: TokenBatch, train: boolean, seed: bigint): Promise<NativeTensor> {
    const out = await this.bert.forwardAsync({
      inputIds: b.ids,
      attentionMask: paddingMask(b.ids),
      batch: b.rows,
      seq: b.seq,
      train,
      seed,
      // Without training no backward follows: the inference plan keeps two layers of activations.
      grad: train,
      clsOnly: true, // only [CLS] / pooled are used
    });
    if (!this.linear) return out.cls;
    if (!out.pooled) throw new Error('bi-encoder: add_linear needs the pooler');
    return this.linear.forward(out.pooled, b.rows, train, seed ^ 0x9e3779b97f4a7c15n);
  }

  async backward(dEmb: NativeTensor): Promise<void> {
    if (this.linear) await this.bert.backwardAsync({ dPooled: this.linear.backward(dEmb) });
    else await this.bert.backwardAsync({ dCls: dEmb });
  }

  parts(): ParamPart[] {
    // grads as a getter: the BERT allocates its gradient buffer on first use (not for eval).
    const bert = this.bert;
    const p: ParamPart[] = [
      {
        prefix: `${this.prefix}.bert_model.`,
        params: bert.parameters(),
        get grads() {
          return bert.gradients();
        },
        layout: bert.layout,
      },
    ];
    if (this.linear)
      p.push({
        prefix: `${this.prefix}.additional_linear.`,
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
}

export class BiEncoder {
  readonly context: Encoder;
  readonly candidate: Encoder;
  readonly embedDim: number;

  constructor(readonly options: BiEncoderOptions) {
    const out = options.addLinear ? (options.outDim ?? 1) : undefined;
    const precision = options.precision ?? 'f32';
    this.context = new Encoder(options.config, options.device, 'context_encoder', out, precision);
    this.candidate = new Encoder(options.config, options.device, 'cand_encoder', out, precision);
    this.embedDim = out ?? options.config.hiddenSize;
  }

  get device(): DeviceName {
    return this.options.device;
  }
  get config(): BertConfig {
    return this.context.bert.config;
  }

  encoder(side: EncoderSide): Encoder {
    return side === 'context' ? this.context : this.candidate;
  }

  /** Embeddings [rows, embedDim], valid until this side's next forward. */
  encode(side: EncoderSide, b: TokenBatch, train = false, seed = 0n): Promise<NativeTensor> {
    return this.encoder(side).forward(b, train, seed);
  }

  /** Accumulates gradients of this side's last forward from dEmb [rows, embedDim]. */
  backward(side: EncoderSide, dEmb: NativeTensor): Promise<void> {
    return this.encoder(side).backward(dEmb);
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
