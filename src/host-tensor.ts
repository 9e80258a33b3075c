/**
 * The one host tensor form: a row-major, contiguous array with its shape. Checkpoint readers
 * return it (floats as Float32Array, integers as Int32Array), writers take it, and models load
 * their weights from it; device tensors are the addon's `NativeTensor` (src/native.ts).
 */
export type HostData = Float32Array | Int32Array;

export interface HostTensor<D extends HostData = HostData> {
  readonly shape: readonly number[];
  readonly data: D;
}

/** Float weights as models take them. */
export type FloatTensor = HostTensor<Float32Array>;

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
