// The two-layer perceptron of BioFEG's generator and critic: y = fc2(leakyRelu(fc1(x), 0.2)).
// Weights in PyTorch Linear layout ([out, in]) in one flat buffer [fc1.weight | fc1.bias |
// fc2.weight | fc2.bias] under the original's state_dict names, so the optimiser and checkpoints
// treat it like a BERT. Forward keeps the pre-activation for backward (and for the penalty).
import { engineFor } from '../engine.js';
import { tensor, type DeviceName, type NativeTensor } from '../native.js';
import type { ParamEntry } from './bert-native.js';
import { Workspace } from './workspace.js';

export const LEAKY_SLOPE = 0.2;

export interface MlpTrace {
  rows: number;
  /** The input [rows, in] as given to forward. */
  x: NativeTensor;
  /** fc1 pre-activation [rows, hidden]. */
  h: NativeTensor;
  /** leakyRelu(h) [rows, hidden]. */
  a: NativeTensor;
  /** fc2 output [rows, out]. */
  y: NativeTensor;
}

export class Mlp2 {
  readonly params: NativeTensor;
  readonly grads: NativeTensor;
  readonly layout: ParamEntry[];
  readonly w1: NativeTensor;
  readonly b1: NativeTensor;
  readonly w2: NativeTensor;
  readonly b2: NativeTensor;
  readonly dw1: NativeTensor;
  readonly db1: NativeTensor;
  readonly dw2: NativeTensor;
  readonly db2: NativeTensor;
  readonly ws: Workspace;

  constructor(
    readonly inDim: number,
    readonly hidden: number,
    readonly outDim: number,
    readonly device: DeviceName,
  ) {
    for (const [k, v] of [
      ['in', inDim],
      ['hidden', hidden],
      ['out', outDim],
    ] as const)
      if (!Number.isInteger(v) || v < 1) throw new Error(`mlp: ${k} size must be a positive integer, got ${v}`);
    const o1 = hidden * inDim,
      o2 = o1 + hidden,
      o3 = o2 + outDim * hidden,
      n = o3 + outDim;
    this.layout = [
      { name: 'fc1.weight', shape: [hidden, inDim], offset: 0 },
      { name: 'fc1.bias', shape: [hidden], offset: o1 },
      { name: 'fc2.weight', shape: [outDim, hidden], offset: o2 },
      { name: 'fc2.bias', shape: [outDim], offset: o3 },
    ];
    this.params = tensor(device, 'f32', [n]);
    this.grads = tensor(device, 'f32', [n]);
    const views = (t: NativeTensor) => this.layout.map((e) => t.view(e.offset, e.shape));
    [this.w1, this.b1, this.w2, this.b2] = views(this.params) as [NativeTensor, NativeTensor, NativeTensor, NativeTensor];
    [this.dw1, this.db1, this.dw2, this.db2] = views(this.grads) as [NativeTensor, NativeTensor, NativeTensor, NativeTensor];
    this.ws = new Workspace(device);
  }

  get numParameters(): number {
    return this.params.shape[0]!;
  }
  /** The engine of the model's device. */
  get eng() {
    return engineFor(this.device);
  }

  /** PyTorch's default Linear init per layer: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
  init(rand: () => number): void {
    const v = new Float32Array(this.numParameters);
    for (const e of this.layout) {
      const fanIn = e.name.startsWith('fc1') ? this.inDim : this.hidden;
      const bound = 1 / Math.sqrt(fanIn);
      const n = e.shape.reduce((a, b) => a * b, 1);
      for (let i = 0; i < n; i++) v[e.offset + i] = (rand() * 2 - 1) * bound;
    }
    this.params.upload(v);
  }

  /**
   * x [rows, in] -> y [rows, out]. `slot` names the scratch set (one per caller) so traces of
   * different batches can live side by side; the trace is valid until the slot's next forward.
   */
  forward(x: NativeTensor, rows: number, slot = 'main'): MlpTrace {
    const eng = this.eng;
    const h = this.ws.get(`${slot}.h`, 'f32', [rows, this.hidden]);
    const a = this.ws.get(`${slot}.a`, 'f32', [rows, this.hidden]);
    const y = this.ws.get(`${slot}.y`, 'f32', [rows, this.outDim]);
    eng.gemm(x, this.w1, h, { transB: true, bias: this.b1 });
    eng.leakyRelu(h, a, LEAKY_SLOPE);
    eng.gemm(a, this.w2, y, { transB: true, bias: this.b2 });
    return { rows, x, h, a, y };
  }

  /**
   * Backward of a trace from dy [rows, out]: accumulates parameter gradients when `params`
   * (default true) and returns dx [rows, in] when `input` (default false).
   */
  backward(t: MlpTrace, dy: NativeTensor, o: { params?: boolean; input?: boolean; slot?: string } = {}): NativeTensor | undefined {
    const eng = this.eng,
      slot = o.slot ?? 'main';
    const params = o.params ?? true;
    const dh = this.ws.get(`${slot}.dh`, 'f32', [t.rows, this.hidden]);
    eng.gemm(dy, this.w2, dh); // d(a) = dy W2
    if (params) {
      eng.gemm(dy, t.a, this.dw2, { transA: true, beta: 1 });
      eng.biasGrad(dy, this.db2);
    }
    eng.leakyReluBackward(t.h, dh, dh, LEAKY_SLOPE);
    if (params) {
      eng.gemm(dh, t.x, this.dw1, { transA: true, beta: 1 });
      eng.biasGrad(dh, this.db1);
    }
    if (!o.input) return undefined;
    const dx = this.ws.get(`${slot}.dx`, 'f32', [t.rows, this.inDim]);
    eng.gemm(dh, this.w1, dx);
    return dx;
  }

  zeroGrad(): void {
    this.eng.fill(this.grads, 0);
  }

  /** Weights by state_dict name (copies). */
  exportWeights(): Map<string, { shape: number[]; data: Float32Array }> {
    const flat = this.params.download() as Float32Array;
    return new Map(
      this.layout.map((e) => [e.name, { shape: [...e.shape], data: flat.slice(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)) }]),
    );
  }

  dispose(): void {
    this.ws.dispose();
    for (const t of [this.w1, this.b1, this.w2, this.b2, this.dw1, this.db1, this.dw2, this.db2, this.params, this.grads]) t.dispose();
  }
}
