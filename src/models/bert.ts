// BERT encoder handle: config from HF config.json, weights in and out by HF name, and the
// native forward/backward (native/models/bert.cpp) behind it.
import type { NativeTensor } from '../native.js';
import type { FloatTensor } from '../host-tensor.js';
import {
  nativeBertClass,
  type AllreduceStats,
  type BackwardOptions,
  type BertConfig,
  type BertForwardInput,
  type BertModelOptions,
  type BertPrecision,
  type BertOutputGradients,
  type BertOutputs,
  type NativeBertModel,
  type ParamEntry,
} from './bert-native.js';

export type {
  AllreduceStats,
  BackwardOptions,
  BertConfig,
  BertForwardInput,
  BertModelOptions,
  BertOutputGradients,
  BertOutputs,
  BertPrecision,
  ParamEntry,
} from './bert-native.js';

/** Weights by parameter name, as host tensors. */
export type WeightMap = Map<string, FloatTensor>;

function intField(j: Record<string, unknown>, key: string, dflt?: number): number {
  const v = j[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new Error(`bert config: '${key}' must be a positive integer, got ${JSON.stringify(j[key])}`);
  return v;
}
function numField(j: Record<string, unknown>, key: string, dflt: number): number {
  const v = j[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`bert config: '${key}' must be a number`);
  return v;
}

/** Maps an HF BertConfig (config.json) to ours; rejects what the native model does not compute. */
export function bertConfigFromHf(json: unknown, o: { pooler?: boolean } = {}): BertConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('bert config: expected a JSON object');
  const j = json as Record<string, unknown>;
  const act = j['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') throw new Error(`bert config: hidden_act '${String(act)}' is not supported (only 'gelu', the erf form)`);
  const pos = j['position_embedding_type'] ?? 'absolute';
  if (pos !== 'absolute') throw new Error(`bert config: position_embedding_type '${String(pos)}' is not supported`);
  if (j['is_decoder'] === true || j['add_cross_attention'] === true)
    throw new Error('bert config: decoder / cross-attention BERTs are not supported');
  return {
    vocabSize: intField(j, 'vocab_size'),
    hiddenSize: intField(j, 'hidden_size'),
    numLayers: intField(j, 'num_hidden_layers'),
    numHeads: intField(j, 'num_attention_heads'),
    intermediateSize: intField(j, 'intermediate_size'),
    maxPositions: intField(j, 'max_position_embeddings', 512),
    typeVocabSize: intField(j, 'type_vocab_size', 2),
    layerNormEps: numField(j, 'layer_norm_eps', 1e-12),
    pooler: o.pooler ?? true,
    hiddenDropout: numField(j, 'hidden_dropout_prob', 0.1),
    attentionDropout: numField(j, 'attention_probs_dropout_prob', 0.1),
  };
}

/** Checkpoint names to ours: drops a 'bert.' prefix and maps old LayerNorm gamma/beta names. */
export function normaliseBertName(name: string): string {
  let n = name.startsWith('bert.') ? name.slice(5) : name;
  n = n.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
  return n;
}

export interface LoadReport {
  /** Checkpoint names that are not parameters of this model (e.g. cls.* heads, position_ids). */
  unexpected: string[];
  /** Parameters the checkpoint did not provide (kept as they were); empty unless strict=false. */
  missing: string[];
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class Bert {
  readonly model: NativeBertModel;
  readonly config: BertConfig;
  private layoutCache?: ParamEntry[];

  /**
   * device 'ref' runs the plain reference kernels on the host (tests). options.precision 'bf16'
   * (mixed precision, f32 master weights and gradients) on 'cuda' and 'ref', and on 'cpu' where the
   * CPU has AVX512_BF16 (inference: backward throws); elsewhere 'cpu' throws, naming why.
   * Outputs are f32 and backward takes f32 gradients in either precision.
   */
  constructor(
    config: Partial<BertConfig> &
      Pick<BertConfig, 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'intermediateSize' | 'maxPositions'>,
    device: 'cpu' | 'cuda' | 'ref' = 'cpu',
    options: BertModelOptions = {},
  ) {
    const Ctor = nativeBertClass();
    this.model = new Ctor(config, device, options);
    this.config = this.model.config();
  }

  get device(): 'cpu' | 'cuda' | 'ref' {
    return this.model.device;
  }
  get precision(): BertPrecision {
    return this.model.precision;
  }
  get numParameters(): number {
    return this.model.numParameters;
  }
  /** HF names in HF order with their offsets into the flat buffers. */
  get layout(): ParamEntry[] {
    this.layoutCache ??= this.model.parameterLayout();
    return this.layoutCache;
  }
  /** The flat f32 parameter buffer (shared with the model: uploads change the weights). */
  parameters(): NativeTensor {
    return this.model.parameters();
  }
  /**
   * Inference only, mixed precision: keep the bf16 working copy of the weights across no-grad
   * forwards instead of casting the f32 weights on every forward. The next forward casts again
   * after parameters() (the weights may change through it), a grad or train forward, or
   * keepWeightCopy(false). No effect in f32.
   */
  keepWeightCopy(on = true): void {
    this.model.keepWeightCopy(on);
  }
  /**
   * Frees the weights, gradients and activations now instead of at garbage collection (a model
   * built and then not used); any later call throws.
   */
  dispose(): void {
    this.model.dispose();
  }
  /** The flat f32 gradient buffer, same layout as parameters(). */
  gradients(): NativeTensor {
    return this.model.gradients();
  }

  reserve(batch: number, seq: number): void {
    this.model.reserve(batch, seq);
  }
  forward(i: BertForwardInput): BertOutputs {
    return this.model.forward(i);
  }
  forwardAsync(i: BertForwardInput): Promise<BertOutputs> {
    return this.model.forwardAsync(i);
  }
  /**
   * Accumulates into gradients(); call zeroGrad() between steps. With `allreduce` (an MPI run, a
   * host model), the buffer is then summed over the ranks, in buckets sent during the backward.
   */
  backward(g: BertOutputGradients, o?: BackwardOptions): AllreduceStats | undefined {
    return this.model.backward(g, o);
  }
  backwardAsync(g: BertOutputGradients, o?: BackwardOptions): Promise<AllreduceStats | undefined> {
    return this.model.backwardAsync(g, o);
  }
  /** The sum over the ranks a backward with `allreduce` does, without a backward (same buckets). */
  allreduceGradients(o: Required<BackwardOptions>): AllreduceStats {
    return this.model.allreduceGradients(o);
  }
  zeroGrad(): void {
    this.model.zeroGrad();
  }

  /**
   * Copies weights in by HF name (with or without 'bert.'). Shapes must match. strict (default):
   * every parameter must be present; otherwise the absent ones keep their current values.
   */
  loadWeights(weights: ReadonlyMap<string, FloatTensor>, o: { strict?: boolean } = {}): LoadReport {
    const strict = o.strict ?? true;
    const byName = new Map<string, FloatTensor>();
    const unexpected: string[] = [];
    const known = new Map(this.layout.map((e) => [e.name, e] as const));
    for (const [raw, t] of weights) {
      const n = normaliseBertName(raw);
      if (!known.has(n)) unexpected.push(raw);
      else if (byName.has(n)) throw new Error(`bert weights: '${n}' is given twice (as '${raw}' and another name)`);
      else byName.set(n, t);
    }
    const missing = this.layout.filter((e) => !byName.has(e.name)).map((e) => e.name);
    if (strict && missing.length > 0)
      throw new Error(
        `bert weights: missing ${missing.length} parameter(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
      );
    const flat = missing.length > 0 ? (this.parameters().download() as Float32Array) : new Float32Array(this.numParameters);
    for (const e of this.layout) {
      const t = byName.get(e.name);
      if (!t) continue;
      if (!sameShape(t.shape, e.shape))
        throw new Error(`bert weights: '${e.name}' has shape [${t.shape.join(', ')}], the model expects [${e.shape.join(', ')}]`);
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new Error(`bert weights: '${e.name}' holds ${t.data.length} values, its shape needs ${n}`);
      flat.set(t.data, e.offset);
    }
    this.parameters().upload(flat);
    return { unexpected, missing };
  }

  /** The weights by HF name (no prefix), HF order, as copies. */
  exportWeights(): WeightMap {
    return sliceByLayout(this.layout, this.parameters().download() as Float32Array);
  }
  /** The gradients by HF name, HF order, as copies. */
  exportGradients(): WeightMap {
    return sliceByLayout(this.layout, this.gradients().download() as Float32Array);
  }
}

function sliceByLayout(layout: ParamEntry[], flat: Float32Array): WeightMap {
  const m: WeightMap = new Map();
  for (const e of layout) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    m.set(e.name, { shape: [...e.shape], data: flat.slice(e.offset, e.offset + n) });
  }
  return m;
}
