// BLINK's cross-encoder (crossencoder.py, CrossEncoderModule): one BertEncoder over each
// (context, candidate) pair; its output squeezed and viewed [mentions, k] is the score matrix.
// With add_linear the output is pooled -> dropout 0.1 -> Linear(hidden, 1). Without it the
// original's encoder returns the [CLS] vector [pairs, hidden], which cannot be viewed as
// [mentions, k] scores (its training fails): so add_linear with out_dim 1 is required here.
// State_dict names are the original's: encoder.bert_model.…, encoder.additional_linear.….
import type { BackwardRunner } from '../comm/grad-overlap.js';
import type { DeviceName, NativeTensor } from '../native.js';
import type { BertConfig, BertPrecision } from './bert.js';
import { BlinkEncoder, type ParamPart, type TokenBatch } from './biencoder.js';

export interface CrossEncoderOptions {
  config: BertConfig;
  device: DeviceName;
  /** Mixed precision BERT (CUDA; see Bert). The linear layer stays f32. */
  precision?: BertPrecision;
}

export class CrossEncoder {
  readonly encoder: BlinkEncoder;

  constructor(readonly options: CrossEncoderOptions) {
    this.encoder = new BlinkEncoder(options.config, options.device, 'encoder', 1, options.precision ?? 'f32');
  }

  get device(): DeviceName {
    return this.options.device;
  }
  get config(): BertConfig {
    return this.encoder.bert.config;
  }

  /**
   * One score per pair row [rows, 1], valid until the next score. `dropout` switches dropout on
   * (seeded); `grad` keeps what backward needs.
   */
  score(pairs: TokenBatch, o: { dropout: boolean; grad: boolean; seed?: bigint }): Promise<NativeTensor> {
    return this.encoder.encode(pairs, { train: o.dropout, grad: o.grad, seed: o.seed ?? 0n });
  }

  /** Accumulates the gradients of the last score (made with grad) from dScores [rows, 1] (`runner`: see BlinkEncoder.backward). */
  backward(dScores: NativeTensor, runner?: BackwardRunner): Promise<void> {
    return this.encoder.backward(dScores, runner);
  }

  zeroGrad(): void {
    this.encoder.zeroGrad();
  }

  /** encoder.bert_model.… then encoder.additional_linear.…, as CrossEncoderModule's state_dict. */
  parts(): ParamPart[] {
    return this.encoder.parts();
  }
}
