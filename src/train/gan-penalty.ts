// The gradient penalty's row-wise pieces that the op table has no op for: the norm of each row of
// the critic's input gradient g [B, F] and the per-row factor of the penalty's gradient.
//   penalty = λ/B Σ_i (‖g_i‖ − 1)²,   ∂penalty/∂g_i = c_i g_i,  c_i = 2λ(‖g_i‖ − 1) / (B ‖g_i‖)
// (c_i = 0 where ‖g_i‖ = 0, as torch's norm backward). The squared norms are summed
// on the host from a download of g (B·F numbers), the row scaling on the device as one GEMM with a
// diagonal matrix. A fused engine op (see rowNormPenalty) can replace this file without touching
// the critic step.
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

/** A [B, B] diagonal matrix with `d` on the diagonal (row scaling as one plain GEMM). */
function diag(d: Float32Array): Float32Array {
  const B = d.length, m = new Float32Array(B * B);
  for (let i = 0; i < B; i++) m[i * B + i] = d[i]!;
  return m;
}

/**
 * From g [B, F] (device): writes u = c ⊙ g (row-scaled) into `u` [B, F] and returns the
 * penalty. g comes to the host for the norms (B·F numbers); the row scaling is one GEMM with
 * diag(c) on the device (batched GEMMs of 1×F rows cost more in dispatch than this).
 */
export function rowNormPenalty(device: DeviceName, ws: Workspace, g: NativeTensor, u: NativeTensor, rows: number, dim: number, lambda: number): PenaltyRows {
  const gh = g.download() as Float32Array;
  const sq = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += gh[i * dim + j]! * gh[i * dim + j]!;
    sq[i] = s;
  }
  const r = penaltyFromSquaredNorms(sq, lambda);
  const dc = ws.get('gp.diag', 'f32', [rows, rows]);
  dc.upload(diag(r.coef));
  ops().gemm(backendOf(device), dc, g, u);
  return r;
}

/** y = x + diag(a) d: the interpolates α real + (1−α) fake = fake + α (real − fake), α per row. */
export function addRowScaled(device: DeviceName, ws: Workspace, x: NativeTensor, d: NativeTensor, a: Float32Array, y: NativeTensor, rows: number): void {
  const da = ws.get('rows.diag', 'f32', [rows, rows]);
  da.upload(diag(a));
  y.copyFrom(x);
  ops().gemm(backendOf(device), da, d, y, { beta: 1 });
}
