import { CheckpointRejectedError } from '../errors.js';
/**
 * Shared types of the checkpoint readers and writers.
 *
 * Every reader returns tensors in one of two host forms: floating dtypes (F64, F32, F16, BF16) as
 * Float32Array, integer and boolean dtypes as Int32Array (I64 range-checked). The on-disk dtype is
 * kept in `dtype` so a caller can tell a converted tensor from a native f32 one.
 */

/** On-disk element types the readers understand (safetensors spelling). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isFloatDType(d: DType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16';
}

/** A tensor as read from a checkpoint: row-major, contiguous, owning its data. */
export interface Tensor {
  /** Element type in the file (the data is converted to f32 or i32). */
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A tensor given to a writer. */
export interface TensorInput {
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

/** Any checkpoint that cannot be read or written; the message starts with the file's path. */
export class CheckpointError extends CheckpointRejectedError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(file, `${file}: ${detail}`);
    this.name = 'CheckpointError';
  }
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
