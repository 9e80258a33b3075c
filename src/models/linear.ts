// BLINK's additional_linear: y = dropout(x) W^T + b, W [out, in] (PyTorch Linear layout).
// Parameters live in one flat buffer [W | b] so the optimiser treats it like a BERT.
import { engineFor } from '../engine.js';
import { tensor, type DeviceName, type NativeTensor } from '../native.js';
import type { ParamEntry } from './bert-native.js';
import { Workspace } from './workspace.js';

export class Linear {
  readonly params: NativeTensor;
  readonly grads: NativeTensor;
  readonly layout: ParamEntry[];
  private readonly ws: Workspace;
  private readonly w: NativeTensor;
  private readonly b: NativeTensor;
  private readonly dw: NativeTensor;
  private readonly db: NativeTensor;
  private x?: NativeTensor;
  private rows = 0;
  private drop = { p: 0, seed: 0n };

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly device: DeviceName,
    readonly dropout = 0.1,
  ) {
    const n = outDim * inDim + outDim;
    this.params = tensor(device, 'f32', [n]);
    this.grads = tensor(device, 'f32', [n]);
    this.w = this.params.view(0, [outDim, inDim]);
    this.b = this.params.view(outDim * inDim, [outDim]);
    this.dw = this.grads.view(0, [outDim, inDim]);
    this.db = this.grads.view(outDim * inDim, [outDim]);
    this.layout = [
      { name: 'weight', shape: [outDim, inDim], offset: 0 },
      { name: 'bias', shape: [outDim], offset: outDim * inDim },
    ];
    this.ws = new Workspace(device);
  }

  /** PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)) for W and b, from `rand`. */
  init(rand: () => number): void {
    const bound = 1 / Math.sqrt(this.inDim);
    const v = new Float32Array(this.outDim * this.inDim + this.outDim);
    for (let i = 0; i < v.length; i++) v[i] = (rand() * 2 - 1) * bound;
    this.params.upload(v);
  }

  /** x [rows, in] -> y [rows, out]; keeps the dropped-out input for backward. */
  forward(x: NativeTensor, rows: number, train: boolean, seed: bigint): NativeTensor {
    const eng = engineFor(this.device);
    const xd = this.ws.get('xd', 'f32', [rows, this.inDim]);
    this.drop = { p: train ? this.dropout : 0, seed };
    if (this.drop.p > 0) eng.dropout(x, xd, this.drop.p, seed, 0);
    else xd.copyFrom(x);
    const y = this.ws.get('y', 'f32', [rows, this.outDim]);
    eng.gemm(xd, this.w, y, { transB: true, bias: this.b });
    this.x = xd;
    this.rows = rows;
    return y;
  }

  /** dy [rows, out] -> dx [rows, in]; accumulates dW, db. */
  backward(dy: NativeTensor): NativeTensor {
    if (!this.x) throw new Error('linear: backward before forward');
    const eng = engineFor(this.device);
    eng.gemm(dy, this.x, this.dw, { transA: true, beta: 1 });
    eng.biasGrad(dy, this.db);
    const dx = this.ws.get('dx', 'f32', [this.rows, this.inDim]);
    eng.gemm(dy, this.w, dx);
    if (this.drop.p > 0) eng.dropoutBackward(dx, dx, this.drop.p, this.drop.seed, 0);
    return dx;
  }

  zeroGrad(): void {
    engineFor(this.device).fill(this.grads, 0);
  }

  dispose(): void {
    this.ws.dispose();
    for (const t of [this.params, this.grads, this.w, this.b, this.dw, this.db]) t.dispose();
  }
}
