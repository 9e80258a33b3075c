// Gradient clipping as torch.nn.utils.clip_grad_norm_ (torch 1.x): one L2 norm over all gradients,
// scale = max_norm / (norm + 1e-6), applied only when it is below 1.

export const CLIP_EPS = 1e-6;

/** Factor to multiply every gradient by, given the sum of squares of all gradient elements. */
export function clipScale(sumOfSquares: number, maxGradNorm: number): number {
  if (!(maxGradNorm > 0)) throw new Error(`--max_grad_norm must be > 0, got ${maxGradNorm}`);
  const norm = Math.sqrt(sumOfSquares);
  const coef = maxGradNorm / (norm + CLIP_EPS);
  return Math.min(coef, 1);
}

/** Sum of squares of `grad` (optionally only where `mask` is 1), in float64. */
export function sumOfSquares(grad: Float32Array, mask?: Float32Array): number {
  let s = 0;
  if (mask) {
    if (mask.length !== grad.length) throw new Error(`mask has ${mask.length} elements, gradient ${grad.length}`);
    for (let i = 0; i < grad.length; i++) if (mask[i] !== 0) s += grad[i]! * grad[i]!;
  } else {
    for (let i = 0; i < grad.length; i++) s += grad[i]! * grad[i]!;
  }
  return s;
}
