// BLINK's optimiser over flat parameter buffers: AdamW (default: no bias correction, eps 1e-6,
// decay 0.01 except bias/gamma/beta names) run by the engine's fused adamw op on the trained
// ranges only (one call per run of tensors sharing a decay setting: no full-size masks), plus
// clip_grad_norm_ over every gradient.
import { engineFor } from '../engine.js';
import { tensor, type DeviceName, type NativeTensor } from '../native.js';
import type { ParamPart } from '../models/biencoder.js';
import { clipScale } from './grad-clip.js';
import { checkLayout, isDecayed, isTrainable, WEIGHT_DECAY } from './param-groups.js';

export interface AdamWSettings {
  /** Name substrings of the trained parameters (param-groups trainablePatterns), or null for all. */
  patterns: readonly string[] | null;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  biasCorrection?: boolean;
  /** Which parameters weight decay applies to (default: BLINK's, isDecayed; SapBERT's torch AdamW decays every one). */
  decayed?: (name: string) => boolean;
}

/** A contiguous run of trained elements that share a weight-decay setting. */
interface Segment {
  lo: number;
  hi: number;
  decay: boolean;
}

interface Group {
  part: ParamPart;
  m: NativeTensor;
  v: NativeTensor;
  segments: Segment[];
}

/** Trained runs of a layout, merged where tensors touch and agree on decay (no full-size masks). */
function segmentsOf(
  layout: readonly { name: string; shape: number[]; offset: number }[],
  patterns: readonly string[] | null,
  decayed: (name: string) => boolean,
) {
  const segments: Segment[] = [];
  const frozen: string[] = [];
  let trained = 0;
  for (const e of [...layout].sort((a, b) => a.offset - b.offset)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (!isTrainable(e.name, patterns)) {
      frozen.push(e.name);
      continue;
    }
    trained += n;
    const decay = decayed(e.name);
    const last = segments[segments.length - 1];
    if (last && last.hi === e.offset && last.decay === decay) last.hi += n;
    else segments.push({ lo: e.offset, hi: e.offset + n, decay });
  }
  return { segments, frozen, trained };
}

export class FlatAdamW {
  private readonly groups: Group[] = [];
  private readonly norm: NativeTensor;
  /** Updates done so far (AdamW's step count is this + 1 during an update). */
  steps = 0;
  readonly trainableElements: number;
  readonly frozenNames: string[] = [];

  constructor(
    readonly device: DeviceName,
    parts: readonly ParamPart[],
    readonly s: AdamWSettings,
  ) {
    let trainable = 0;
    for (const part of parts) {
      const layout = part.layout.map((e) => ({ ...e, name: part.prefix + e.name }));
      const n = checkLayout(
        layout,
        part.params.shape.reduce((a, b) => a * b, 1),
      );
      const { segments, frozen, trained } = segmentsOf(layout, s.patterns, s.decayed ?? isDecayed);
      trainable += trained;
      this.frozenNames.push(...frozen);
      this.groups.push({ part, m: tensor(device, 'f32', [n]), v: tensor(device, 'f32', [n]), segments });
    }
    this.trainableElements = trainable;
    this.norm = tensor(device, 'f32', [1]);
  }

  /** One update at learning rate `lr` (the scheduled value). */
  update(lr: number): void {
    const eng = engineFor(this.device);
    const step = this.steps + 1;
    for (const g of this.groups)
      for (const { lo, hi, decay } of g.segments) {
        const v = (t: NativeTensor) => t.view(lo, [hi - lo]);
        eng.adamw(v(g.part.params), v(g.part.grads), v(g.m), v(g.v), null, {
          lr,
          beta1: this.s.beta1 ?? 0.9,
          beta2: this.s.beta2 ?? 0.999,
          eps: this.s.eps ?? 1e-6,
          weightDecay: decay ? (this.s.weightDecay ?? WEIGHT_DECAY) : 0,
          step,
          biasCorrection: this.s.biasCorrection ?? false,
        });
      }
    this.steps = step;
  }

  /** The global L2 norm of every gradient (trained or not, as torch's clip over model.parameters()). */
  gradNorm(): number {
    const eng = engineFor(this.device);
    eng.fill(this.norm, 0);
    for (const g of this.groups) eng.sumsq(g.part.grads, this.norm);
    return Math.sqrt((this.norm.download() as Float32Array)[0]!);
  }

  /** clip_grad_norm_: scales every gradient by max/(norm+1e-6) when that is below 1; returns the norm. */
  clipGradNorm(maxNorm: number): number {
    const norm = this.gradNorm();
    const scale = clipScale(norm * norm, maxNorm);
    if (scale < 1) for (const g of this.groups) engineFor(this.device).scale(g.part.grads, g.part.grads, scale);
    return norm;
  }

  /** Moments by part prefix, for resumable checkpoints. */
  exportState(): { steps: number; moments: Map<string, { shape: number[]; data: Float32Array }> } {
    const moments = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const g of this.groups) {
      moments.set(`${g.part.prefix}exp_avg`, { shape: g.m.shape, data: g.m.download() as Float32Array });
      moments.set(`${g.part.prefix}exp_avg_sq`, { shape: g.v.shape, data: g.v.download() as Float32Array });
    }
    return { steps: this.steps, moments };
  }

  importState(st: { steps: number; moments: ReadonlyMap<string, { data: Float32Array | Int32Array }> }): void {
    for (const g of this.groups)
      for (const [key, t] of [
        [`${g.part.prefix}exp_avg`, g.m],
        [`${g.part.prefix}exp_avg_sq`, g.v],
      ] as const) {
        const src = st.moments.get(key);
        if (!src || !(src.data instanceof Float32Array) || src.data.length !== t.shape[0])
          throw new Error(`optimizer state: '${key}' is missing or has the wrong size`);
        t.upload(src.data);
      }
    this.steps = st.steps;
  }

  dispose(): void {
    for (const g of this.groups) for (const t of [g.m, g.v]) t.dispose();
    this.norm.dispose();
  }
}
