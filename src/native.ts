// The typed face of the addon: loading, device choice, Tensor and the op table.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type DType = 'f32' | 'bf16' | 'i32';
export type DeviceName = 'cpu' | 'cuda';
/** 'ref' is the plain reference backend (host), 'cpu' the fast one, 'cuda' the GPU. */
export type BackendName = 'ref' | 'cpu' | 'cuda';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: DeviceName | 'disposed';
  readonly nbytes: number;
  readonly disposed: boolean;
  upload(data: Float32Array | Int32Array): void;
  download(): Float32Array | Int32Array;
  copyFrom(src: NativeTensor): void;
  /** A tensor sharing this one's memory: `shape` starting `offset` elements in. */
  view(offset: number, shape: number[]): NativeTensor;
  dispose(): void;
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  bias?: NativeTensor | null;
  gelu?: boolean;
  pre?: NativeTensor | null;
  /** Use only the leading bCols columns of B's stored rows (B's row stride stays its width). */
  bCols?: number;
}
export interface AttentionOptions {
  scale?: number;
  dropout?: number;
  seed?: number | bigint;
  offset?: number | bigint;
}
export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  step?: number;
  biasCorrection?: boolean;
}
type T = NativeTensor;
type Seed = number | bigint;

/** Every op takes the backend first; see native/ops.h for the semantics. */
export interface Ops {
  gemm(b: BackendName, A: T, B: T, C: T, o?: GemmOptions): void;
  biasGrad(b: BackendName, dy: T, db: T): void;
  fill(b: BackendName, y: T, value: number): void;
  cast(b: BackendName, x: T, y: T): void;
  add(b: BackendName, a: T, x: T, y: T): void;
  axpy(b: BackendName, alpha: number, x: T, y: T): void;
  scale(b: BackendName, x: T, y: T, s: number): void;
  gelu(b: BackendName, x: T, y: T): void;
  geluBackward(b: BackendName, x: T, dy: T, dx: T): void;
  relu(b: BackendName, x: T, y: T): void;
  reluBackward(b: BackendName, x: T, dy: T, dx: T): void;
  leakyRelu(b: BackendName, x: T, y: T, slope: number): void;
  leakyReluBackward(b: BackendName, x: T, dy: T, dx: T, slope: number): void;
  tanh(b: BackendName, x: T, y: T): void;
  tanhBackward(b: BackendName, y: T, dy: T, dx: T): void;
  dropout(b: BackendName, x: T, y: T, p: number, seed: Seed, offset: Seed): void;
  dropoutBackward(b: BackendName, dy: T, dx: T, p: number, seed: Seed, offset: Seed): void;
  layernorm(b: BackendName, x: T, w: T, bias: T, y: T, mean: T, rstd: T, eps: number): void;
  layernormBackward(b: BackendName, dy: T, x: T, w: T, mean: T, rstd: T, dx: T, dw: T, db: T): void;
  embedding(b: BackendName, ids: T, table: T, y: T): void;
  embeddingBackward(b: BackendName, ids: T, dy: T, dtable: T): void;
  concat(b: BackendName, a: T, x: T, y: T): void;
  concatBackward(b: BackendName, dy: T, da: T, db: T): void;
  crossEntropy(b: BackendName, logits: T, targets: T, loss: T): void;
  crossEntropyBackward(b: BackendName, logits: T, targets: T, dloss: T, dlogits: T): void;
  mse(b: BackendName, a: T, x: T, out: T): void;
  mseBackward(b: BackendName, a: T, x: T, dout: number, da: T): void;
  /** y[n,:] += a[n] x[n,:] (a: f32, one entry per row). */
  rowAxpy(b: BackendName, a: T, x: T, y: T): void;
  /** norms[n] = ‖g_n‖, u_n = 2λ(‖g_n‖−1)/(N‖g_n‖) g_n: the gradient of λ/N Σ(‖g_n‖−1)² (u may be g). */
  gradPenalty(b: BackendName, g: T, lambda: number, u: T, norms: T): void;
  attention(b: BackendName, qkv: T, mask: T | null, out: T, lse: T, o?: AttentionOptions): void;
  attentionBackward(b: BackendName, qkv: T, mask: T | null, out: T, dout: T, lse: T, dqkv: T, o?: AttentionOptions): void;
  adamw(b: BackendName, param: T, grad: T, m: T, v: T, decayMask: T | null, o?: AdamWOptions): void;
  sumsq(b: BackendName, x: T, out: T): void;
  topk(b: BackendName, queries: T, pool: T, k: number, scores: T, index: T, o?: { block?: number }): void;
  topkAsync(b: BackendName, queries: T, pool: T, k: number, scores: T, index: T, o?: { block?: number }): Promise<void>;
}

export interface EngineInfo {
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaDevice: string;
  gemmEngine: string;
  cpuKernel: string;
  threads: number;
}

interface Addon {
  Tensor: new (device: DeviceName, dtype: DType, shape: number[]) => NativeTensor;
  ops: Ops;
  info(): EngineInfo;
  setThreads(n: number): number;
  bytesInUse(device: DeviceName): number;
  synchronize(): void;
}

function findAddon(): string {
  // BIOFEG_ADDON names another build (e.g. build-cpu/Release/biofeg.node) for side-by-side checks.
  const override = process.env['BIOFEG_ADDON'];
  if (override) {
    if (!existsSync(override)) throw new Error(`biofeg: BIOFEG_ADDON=${override} does not exist`);
    return resolve(override);
  }
  // dist/src/native.js and src/native.ts both sit two levels below the package root at most.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, 'build', 'Release', 'biofeg.node');
    if (existsSync(p)) return p;
    dir = resolve(dir, '..');
  }
  throw new Error('biofeg: native addon build/Release/biofeg.node not found; run `npm run build:native`');
}

let addon: Addon | undefined;
/** The loaded addon (loaded on first use). */
export function native(): Addon {
  if (!addon) addon = createRequire(import.meta.url)(findAddon()) as Addon;
  return addon;
}

export const ops = (): Ops => native().ops;
export const engineInfo = (): EngineInfo => native().info();
export const setThreads = (n: number): number => native().setThreads(n);
export const bytesInUse = (d: DeviceName): number => native().bytesInUse(d);

/** Resolves the user's device choice: 'auto' picks CUDA when a device exists. */
export function pickDevice(want: DeviceName | 'auto' = 'auto'): DeviceName {
  const info = engineInfo();
  if (want === 'cpu') return 'cpu';
  if (want === 'cuda') {
    if (!info.cudaCompiled) throw new Error('device cuda: this build has no CUDA backend (rebuild with nvcc on the PATH)');
    if (info.cudaDevices === 0) throw new Error('device cuda: no CUDA device is available');
    return 'cuda';
  }
  return info.cudaDevices > 0 ? 'cuda' : 'cpu';
}

/** The fast backend of a device. */
export const backendOf = (d: DeviceName): BackendName => (d === 'cuda' ? 'cuda' : 'cpu');

/** A new zero-filled tensor; `data` uploads initial contents. */
export function tensor(device: DeviceName, dtype: DType, shape: number[], data?: Float32Array | Int32Array): NativeTensor {
  const t = new (native().Tensor)(device, dtype, shape);
  if (data) t.upload(data);
  return t;
}
