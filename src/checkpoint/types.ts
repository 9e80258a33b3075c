import { CheckpointRejectedError } from '../errors.js';
import type { HostTensor } from '../host-tensor.js';

export { numelOf, type FloatTensor, type HostData, type HostTensor } from '../host-tensor.js';
/**
 * Shared types of the checkpoint readers and writers.
 *
 * Every reader returns host tensors (src/host-tensor.ts): floating dtypes (F64, F32, F16, BF16) as
 * Float32Array, integer and boolean dtypes as Int32Array (I64 range-checked). The on-disk dtype is
 * kept in `dtype` so a caller can tell a converted tensor from a native f32 one.
 */

/**
 * On-disk element types the readers understand (safetensors spelling). Not the engine's `DType`
 * (src/native.ts): a file may hold F64 or I64, which the engine never computes in.
 */
export type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<FileDType, number>> = {
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

export function isFloatFileDType(d: FileDType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16';
}

/** A host tensor as read from a checkpoint, owning its data, with its element type in the file. */
export interface CheckpointTensor extends HostTensor {
  /** Element type in the file (the data is converted to f32 or i32). */
  readonly dtype: FileDType;
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

/**
 * Refuses float weights holding NaN or an infinity: a diverged or damaged checkpoint would
 * otherwise load and give all-NaN outputs with a successful exit.
 */
export function requireFinite(file: string, name: string, data: Float32Array | Int32Array): void {
  if (!(data instanceof Float32Array)) return;
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]!))
      throw new CheckpointError(
        file,
        `${name} holds ${data[i]} at element ${i}: refusing non-finite weights (a diverged or damaged checkpoint)`,
      );
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
