// The gradient penalty's row-wise pieces, on the engine's row ops:
//   penalty = λ/B Σ_i (‖g_i‖ − 1)²,   ∂penalty/∂g_i = c_i g_i,  c_i = 2λ(‖g_i‖ − 1) / (B ‖g_i‖)
// (c_i = 0 where ‖g_i‖ = 0, as torch's norm backward). gradPenalty writes the norms and u = c ⊙ g
// on the device; only the B norms come to the host, for the penalty's value.
import { engineFor } from '../engine.js';
import type { DeviceName, NativeTensor } from '../native.js';
import type { Workspace } from '../models/workspace.js';

export interface PenaltyRows {
  /** The penalty's value. */
  penalty: number;
  /** ‖g_i‖ per row (for logs and tests). */
  norms: Float32Array;
}

/** λ/B Σ (n_i − 1)², summed in float64. */
export function penaltyFromNorms(norms: Float32Array, lambda: number): number {
  let sum = 0;
  for (const n of norms) sum += (n - 1) * (n - 1);
  return norms.length ? (lambda * sum) / norms.length : 0;
}

/** From g [B, F] (device): writes u = c ⊙ g into `u` [B, F] and returns the penalty and norms. */
export function rowNormPenalty(
  device: DeviceName,
  ws: Workspace,
  g: NativeTensor,
  u: NativeTensor,
  rows: number,
  lambda: number,
): PenaltyRows {
  const norms = ws.get('gp.norms', 'f32', [rows]);
  engineFor(device).gradPenalty(g, lambda, u, norms);
  const n = norms.download() as Float32Array;
  return { penalty: penaltyFromNorms(n, lambda), norms: n };
}

/** rowNormPenalty with the norms left in `norms` [rows] on the device (read back by the caller). */
export function queueRowNormPenalty(device: DeviceName, g: NativeTensor, u: NativeTensor, lambda: number, norms: NativeTensor): void {
  engineFor(device).gradPenalty(g, lambda, u, norms);
}

/** y = x + diag(a) d: the interpolates α real + (1−α) fake = fake + α (real − fake), α per row. */
export function addRowScaled(
  device: DeviceName,
  ws: Workspace,
  x: NativeTensor,
  d: NativeTensor,
  a: Float32Array,
  y: NativeTensor,
  rows: number,
): void {
  const at = ws.get('rows.alpha', 'f32', [rows]);
  at.upload(a);
  y.copyFrom(x);
  engineFor(device).rowAxpy(at, d, y);
}
