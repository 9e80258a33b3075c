// The gradient penalty's row-wise pieces that the op table has no op for: the norm of each row of
// the critic's input gradient g [B, F] and the per-row factor of the penalty's gradient.
//   penalty = λ/B Σ_i (‖g_i‖ − 1)²,   ∂penalty/∂g_i = c_i g_i,  c_i = 2λ(‖g_i‖ − 1) / (B ‖g_i‖)
// (c_i = 0 where ‖g_i‖ = 0, as torch's norm backward). The squared norms and the row scaling run
// on the device as batched GEMMs; only B numbers travel to the host and back. A fused engine op
// (see rowNormPenalty) can replace this file without touching the critic step.
import { backendOf, ops, type DeviceName, type NativeTensor } from '../native.js';
import type { Workspace } from '../models/workspace.js';

export interface PenaltyRows {
  /** c_i per row. */
  coef: Float32Array;
  /** The penalty's value. */
  penalty: number;
  /** ‖g_i‖ per row (for logs and tests). */
  norms: Float32Array;
}

/** Host arithmetic from the squared row norms (float64 internally). */
export function penaltyFromSquaredNorms(sq: Float32Array, lambda: number): PenaltyRows {
  const B = sq.length;
  const coef = new Float32Array(B), norms = new Float32Array(B);
  let sum = 0;
  for (let i = 0; i < B; i++) {
    const n = Math.sqrt(Math.max(0, sq[i]!));
    norms[i] = n;
    sum += (n - 1) * (n - 1);
    coef[i] = n > 0 ? (2 * lambda * (n - 1)) / (B * n) : 0;
  }
  return { coef, penalty: (lambda * sum) / B, norms };
}

/**
 * From g [B, F] (device): writes u = c ⊙ g (row-scaled) into `u` [B, F] and returns the
 * penalty. Row norms are a batched GEMM g_i g_iᵀ; the scaling a batched GEMM c_i · g_i.
 */
export function rowNormPenalty(device: DeviceName, ws: Workspace, g: NativeTensor, u: NativeTensor, rows: number, dim: number, lambda: number): PenaltyRows {
  const be = backendOf(device);
  const sq = ws.get('gp.sq', 'f32', [rows, 1, 1]);
  const g3 = g.view(0, [rows, 1, dim]);
  ops().gemm(be, g3, g3, sq, { transB: true });
  const r = penaltyFromSquaredNorms(sq.download() as Float32Array, lambda);
  const coef = ws.get('gp.coef', 'f32', [rows, 1, 1]);
  coef.upload(r.coef);
  ops().gemm(be, coef, g3, u.view(0, [rows, 1, dim]));
  g3.dispose();
  return r;
}

/** y[i] = x[i] + a_i · d[i] per row (batched GEMM with a [B,1,1]): the interpolates α real + (1−α) fake = fake + α (real − fake). */
export function addRowScaled(device: DeviceName, ws: Workspace, x: NativeTensor, d: NativeTensor, a: Float32Array, y: NativeTensor, rows: number, dim: number): void {
  const be = backendOf(device);
  const at = ws.get('rows.a', 'f32', [rows, 1, 1]);
  at.upload(a);
  y.copyFrom(x);
  ops().gemm(be, at, d.view(0, [rows, 1, dim]), y.view(0, [rows, 1, dim]), { beta: 1 });
}
