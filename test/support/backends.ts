// Which backends the op suite runs on, and tensor helpers parameterised by backend and dtype.
import { engine, type Engine } from '../../src/engine.js';
import { engineInfo, tensor, type BackendName, type DType, type NativeTensor } from '../../src/native.js';

export interface Variant {
  be: BackendName;
  dt: DType;
  tol: number;
}

const info = engineInfo();
export const cudaReason = !info.cudaCompiled
  ? 'this build has no CUDA backend'
  : info.cudaDevices === 0
    ? 'no CUDA device on this machine'
    : '';
export const hasCuda = cudaReason === '';

/**
 * BIOFEG_TEST_DEVICE=cuda (set by the `cuemu` test project, which loads the emulated-CUDA addon)
 * keeps only the cuda variants of the backend suites: the others already ran in the main project.
 */
const onlyDevice = process.env.BIOFEG_TEST_DEVICE ?? '';
export const testsDevice = (device: string): boolean => onlyDevice === '' || device === onlyDevice;

/**
 * ref and cpu in f32; cuda in f32 and bf16 (bf16 with a tolerance near its 8-bit mantissa); ref
 * also in bf16 (host emulation of bf16 storage, same rules and tolerance as cuda), so every op's
 * bf16 path is checked in CI without a GPU.
 */
export const VARIANTS: Variant[] = (
  [
    { be: 'ref', dt: 'f32', tol: 1e-5 },
    { be: 'ref', dt: 'bf16', tol: 3e-2 },
    { be: 'cpu', dt: 'f32', tol: 1e-4 },
    { be: 'cuda', dt: 'f32', tol: 1e-4 },
    { be: 'cuda', dt: 'bf16', tol: 3e-2 },
  ] as Variant[]
).filter((v) => testsDevice(v.be));

export class Maker {
  readonly made: NativeTensor[] = [];
  constructor(readonly v: Variant) {}
  /** The variant's engine (made on first use: a skipped cuda suite never asks for it). */
  get eng(): Engine {
    return engine(this.v.be);
  }
  get device() {
    return this.eng.device;
  }
  /** A float tensor in the variant's dtype. */
  f(shape: number[], data?: Float32Array): NativeTensor {
    return this.keep(tensor(this.device, this.v.dt, shape, data));
  }
  /** An f32 tensor (statistics, losses, optimiser state). */
  f32(shape: number[], data?: Float32Array): NativeTensor {
    return this.keep(tensor(this.device, 'f32', shape, data));
  }
  i32(shape: number[], data?: Int32Array): NativeTensor {
    return this.keep(tensor(this.device, 'i32', shape, data));
  }
  private keep(t: NativeTensor): NativeTensor {
    this.made.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.made) t.dispose();
    this.made.length = 0;
  }
}

export const host = (t: NativeTensor): Float32Array => t.download() as Float32Array;
export const hostInt = (t: NativeTensor): Int32Array => t.download() as Int32Array;
