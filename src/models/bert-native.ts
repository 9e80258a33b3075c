// The addon's BertModel class as TypeScript sees it (bindings/model_bert.cpp).
import { native, type NativeTensor } from '../native.js';

/** Native config field names (camelCase); see bertConfigFromHf for the HF mapping. */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  /** Build pooler.dense (HF BertModel's add_pooling_layer). */
  pooler: boolean;
  hiddenDropout: number;
  attentionDropout: number;
}

export interface ParamEntry {
  name: string;
  shape: number[];
  /** Offset in elements into parameters() / gradients(). */
  offset: number;
}

type Ints = Int32Array | NativeTensor;
type Floats = Float32Array | NativeTensor;

export interface BertForwardInput {
  /** [batch * seq] token ids, row-major. */
  inputIds: Ints;
  /** 1 = real token, 0 = padding (keys only, as HF); omitted = all real. */
  attentionMask?: Ints | null;
  /** Omitted = all 0. */
  tokenTypeIds?: Ints | null;
  batch: number;
  seq: number;
  /** Dropout on (hidden and attention probabilities). */
  train?: boolean;
  /**
   * Keep what backward needs (default true). false = inference only: layers share two sets of
   * activations (far less memory for encoding) and backward is refused until a grad forward.
   */
  grad?: boolean;
  /** Dropout seed of this step; omitted in training = the model's own fixed sequence. */
  seed?: number | bigint;
  /**
   * Only cls and pooled are wanted (default false): the last layer computes everything after its
   * attention on the [CLS] rows alone (same results, same dropout masks; ~9/12 of that layer's
   * GEMM work saved). The outputs then have no lastHidden and backward takes no dLastHidden.
   */
  clsOnly?: boolean;
  /**
   * An inference clsOnly forward (grad false, train false) with padding runs its GEMMs, LayerNorms
   * and feed-forward on the real tokens only, packed (default true; attention still sees the
   * padded layout). The outputs are those of the padded forward up to summation order; false
   * computes every position (A/B timing).
   */
  skipPadding?: boolean;
}

/** Views of the model's activation plan: valid until the next forward on this model. */
export interface BertOutputs {
  lastHidden?: NativeTensor; // [batch, seq, hidden]; absent after a clsOnly forward
  cls: NativeTensor; // [batch, hidden]
  pooled?: NativeTensor; // [batch, hidden], pooler models only
  /** Token rows the GEMMs ran on: batch * seq, or the real tokens when padding was skipped. */
  tokenRows: number;
}

export interface BertOutputGradients {
  dLastHidden?: Floats | null;
  dCls?: Floats | null;
  dPooled?: Floats | null;
}

/**
 * Compute precision. 'bf16': mixed precision (bf16 GEMM operands and attention, f32 accumulation,
 * f32 master weights, gradients, residual stream and LayerNorm; see native/models/bert.h). Runs
 * on 'cuda'; 'ref' emulates it on the host for tests; 'cpu' refuses it.
 */
export type BertPrecision = 'f32' | 'bf16';

export interface BertModelOptions {
  precision?: BertPrecision;
}

/**
 * The gradient buffer's sum over the ranks of a data-parallel run, in buckets of `bucketElements`
 * sent while the backward still runs: over MPI for a host model, over the NCCL communicator
 * `nccl` (NcclCommunicator.bucketHandle) for a CUDA one. Every rank must ask for the same buckets
 * in the same order.
 */
export interface GradAllreduce {
  bucketElements: number;
  nccl?: number;
}

export interface BackwardOptions {
  allreduce?: GradAllreduce;
}

/** What an all-reduce of the gradient buffer did: buckets sent, and how many while layers remained. */
export interface AllreduceStats {
  buckets: number;
  overlapped: number;
}

export interface NativeBertModel {
  readonly device: 'cpu' | 'cuda' | 'ref';
  readonly precision: BertPrecision;
  readonly numParameters: number;
  readonly busy: boolean;
  parameters(): NativeTensor;
  keepWeightCopy(on: boolean): void;
  /** Frees the model's storages now; later calls throw. */
  dispose(): void;
  gradients(): NativeTensor;
  parameterLayout(): ParamEntry[];
  config(): BertConfig;
  reserve(batch: number, seq: number): void;
  forward(i: BertForwardInput): BertOutputs;
  forwardAsync(i: BertForwardInput): Promise<BertOutputs>;
  /** With `allreduce`: returns once the buckets are summed over the ranks (NCCL: queued before the engine's next work). */
  backward(g: BertOutputGradients, o?: BackwardOptions): AllreduceStats | undefined;
  backwardAsync(g: BertOutputGradients, o?: BackwardOptions): Promise<AllreduceStats | undefined>;
  /** The buckets a backward with `allreduce` would send, without one (a rank with no rows in a step). */
  allreduceGradients(o: Required<BackwardOptions>): AllreduceStats;
  zeroGrad(): void;
}

export type NativeBertClass = new (
  config: Partial<BertConfig>,
  device: 'cpu' | 'cuda' | 'ref',
  options?: BertModelOptions,
) => NativeBertModel;

export function nativeBertClass(): NativeBertClass {
  return native().BertModel;
}
