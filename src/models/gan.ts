// BioFEG's conditional WGAN-GP (blink/biencoder/biencoder.py in the original):
// - ConditionalGenerator G(noise, cond) = fc2(leakyRelu(fc1([noise | cond]), 0.2)); the
//   features are ReLU(G(...)) (train_gan.py applies the ReLU outside G);
// - ConditionalDiscriminator D(feat, cond) = fc2(leakyRelu(fc1([feat | cond]), 0.2)) -> 1;
// - DescriptionEncoder E (DiscriptionEmbedding): a BERT from --bert_model encoding the entity's
//   `[CLS] title [unused2] text [SEP]` into the condition: its last layer's [CLS] vector, or with
//   add_linear pooled output -> dropout 0.1 -> Linear (BLINK's BertEncoder).
// The original fixes every size at 768; here they follow the encoders: feature = the bi-encoder's
// embedding size, condition = E's, noise = hidden = the feature size.
import { engineFor } from '../engine.js';
import type { DeviceName, NativeTensor } from '../native.js';
import type { BertConfig, BertPrecision } from './bert.js';
import { BlinkEncoder, type ParamPart, type TokenBatch } from './biencoder.js';
import { Mlp2, type MlpTrace } from './mlp.js';
import { gaussian } from './init.js';
import { mulberry32 } from './rng.js';
import { Workspace } from './workspace.js';

export interface GanDims {
  /** Size of the bi-encoder's mention embedding (real features and generated ones). */
  featDim: number;
  /** Size of E's output. */
  condDim: number;
  noiseDim: number;
  hiddenDim: number;
}

/** State-dict prefixes of a GAN checkpoint (the original's torch.save dict keys). */
export const GAN_PREFIX = { generator: 'generator.', discriminator: 'discriminator.', encoder: 'entity_embedding.' } as const;

/** E: BLINK's candidate encoder (names cand_encoder.…, as the original's DiscriptionEmbedding). */
export class DescriptionEncoder extends BlinkEncoder {
  constructor(config: BertConfig, device: DeviceName, linearOut?: number, precision: BertPrecision = 'f32') {
    super(config, device, 'cand_encoder', linearOut, precision);
  }

  /** cond [rows, outDim]; inference (grad false) unless asked. */
  override encode(b: TokenBatch, o: { train: boolean; seed?: bigint; grad?: boolean }): Promise<NativeTensor> {
    return super.encode(b, { ...o, grad: o.grad ?? false });
  }
}

/** An MLP over [a | b] inputs: the concatenation lives in the MLP's own scratch. */
class ConcatMlp {
  readonly mlp: Mlp2;
  constructor(
    readonly aDim: number,
    readonly bDim: number,
    hidden: number,
    out: number,
    readonly device: DeviceName,
  ) {
    this.mlp = new Mlp2(aDim + bDim, hidden, out, device);
  }
  /** [a | b] into the slot's input buffer, then the MLP. */
  forward(a: NativeTensor, b: NativeTensor, rows: number, slot = 'main'): MlpTrace {
    const x = this.mlp.ws.get(`${slot}.x`, 'f32', [rows, this.aDim + this.bDim]);
    engineFor(this.device).concat(a, b, x);
    return this.mlp.forward(x, rows, slot);
  }
  part(prefix: string): ParamPart {
    return { prefix, params: this.mlp.params, grads: this.mlp.grads, layout: this.mlp.layout };
  }
}

export class ConditionalGenerator extends ConcatMlp {
  constructor(
    readonly dims: GanDims,
    device: DeviceName,
  ) {
    super(dims.noiseDim, dims.condDim, dims.hiddenDim, dims.featDim, device);
  }
}

export class ConditionalDiscriminator extends ConcatMlp {
  constructor(
    readonly dims: GanDims,
    device: DeviceName,
  ) {
    super(dims.featDim, dims.condDim, dims.hiddenDim, 1, device);
  }
}

/** Standard normal noise [rows, dim] from a seed (host draws, uploaded): the same seed, the same noise on every device. */
export function noiseFor(rows: number, dim: number, seed: number): Float32Array {
  const g = gaussian(seed);
  const v = new Float32Array(rows * dim);
  for (let i = 0; i < v.length; i++) v[i] = g();
  return v;
}

export class Gan {
  readonly generator: ConditionalGenerator;
  readonly discriminator: ConditionalDiscriminator;
  readonly dims: GanDims;
  private readonly ws: Workspace;

  constructor(
    readonly encoder: DescriptionEncoder,
    featDim: number,
    readonly device: DeviceName,
  ) {
    this.dims = { featDim, condDim: encoder.outDim, noiseDim: featDim, hiddenDim: featDim };
    this.generator = new ConditionalGenerator(this.dims, device);
    this.discriminator = new ConditionalDiscriminator(this.dims, device);
    this.ws = new Workspace(device);
  }

  /** Seeded PyTorch-default init of G and D (E keeps its BERT weights). */
  initMlps(seed: number): void {
    this.generator.mlp.init(mulberry32(seed));
    this.discriminator.mlp.init(mulberry32(seed + 1));
  }

  /**
   * Rows [lo, lo + rows) of a `total`-row noise draw instead of a `rows`-row one, while set: a rank
   * of a data-parallel run draws the whole global batch's noise (the single process's stream) and
   * takes its shard's rows. Undefined (default): the draw is the call's own rows.
   */
  noiseWindow?: { lo: number; total: number };

  /** G's raw output for `cond` [rows, condDim] with noise drawn from `noiseSeed`; `slot` keeps traces apart. */
  generateFrom(cond: NativeTensor, rows: number, noiseSeed: number, slot = 'main'): MlpTrace {
    const noise = this.ws.get(`noise.${slot}`, 'f32', [rows, this.dims.noiseDim]);
    const w = this.noiseWindow,
      d = this.dims.noiseDim;
    if (w && (w.lo < 0 || w.lo + rows > w.total))
      throw new Error(`noise window: rows [${w.lo}, ${w.lo + rows}) outside a ${w.total}-row draw`);
    noise.upload(w ? noiseFor(w.total, d, noiseSeed).subarray(w.lo * d, (w.lo + rows) * d) : noiseFor(rows, d, noiseSeed));
    return this.generator.forward(noise, cond, rows, slot);
  }

  /**
   * Features for a batch of entity descriptions in one call: E in eval mode (no dropout), then
   * G, then ReLU when `relu` (generate_features.py; train_gan.py's evaluate uses G's raw output).
   * Returns a device tensor [rows, featDim] valid until the next call.
   */
  async generate(desc: TokenBatch, o: { noiseSeed: number; relu?: boolean }): Promise<NativeTensor> {
    const cond = await this.encoder.encode(desc, { train: false, grad: false });
    const t = this.generateFrom(cond, desc.rows, o.noiseSeed, 'generate');
    if (!(o.relu ?? true)) return t.y;
    const out = this.ws.get('generate.relu', 'f32', [desc.rows, this.dims.featDim]);
    engineFor(this.device).relu(t.y, out);
    return out;
  }

  /** Every buffer with its checkpoint prefix: generator.fc1.weight, discriminator.…, entity_embedding.cand_encoder.… */
  parts(): ParamPart[] {
    return [
      this.generator.part(GAN_PREFIX.generator),
      this.discriminator.part(GAN_PREFIX.discriminator),
      ...this.encoder.parts(GAN_PREFIX.encoder),
    ];
  }
}
