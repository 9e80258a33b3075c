// The typed face of the addon: loading, Tensor, backend handles. The engine (src/engine.ts) is
// what the library computes with.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { EngineOps } from './engine-ops.js';
import type { NativeBertClass } from './models/bert-native.js';
import { AddonUnavailableError, ArgumentError, BiofegError, DeviceUnavailableError, OutOfMemoryError } from './errors.js';

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
  /**
   * Fills the tensor with the `nbytes` bytes of a file from byte `offset`: values of its own dtype,
   * little-endian, read straight into a host tensor (no conversion, no staging), into a device one
   * through a bounded host chunk. Absent in addons built before it (callers fall back to `upload`).
   */
  readFile?(path: string, offset: number): void;
  /** A tensor sharing this one's memory: `shape` starting `offset` elements in. */
  view(offset: number, shape: number[]): NativeTensor;
  dispose(): void;
}

/** What a backend takes (native/ops.h Caps), as the backend declares it. */
export interface BackendCaps {
  /** Storage dtypes of float operands. */
  floats: DType[];
  /** Ops (by JS name) whose float operands take other dtypes than `floats`. */
  opFloats: Record<string, DType[]>;
  /** Parameter-gradient accumulators may be f32 with bf16 operands. */
  f32Accumulators: boolean;
  /** Top-k queries are f32 whatever the pool's dtype (else they share the pool's). */
  topkF32Queries: boolean;
  /** gemm takes a bias, GELU and pre-activation epilogue. */
  gemmEpilogue: boolean;
  /** Largest attention head dim (0: any). */
  attentionMaxHeadDim: number;
  topkMaxK: number;
  /** Ids and targets are range-checked by the kernels, reported at the next synchronisation. */
  deviceIndexChecks: boolean;
}

export interface EngineInfo {
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaDevice: string;
  gemmEngine: string;
  cpuKernel: string;
  threads: number;
  /** Every backend this process can run ('cuda' only with a device), with its capabilities. */
  backends: Partial<Record<BackendName, { device: DeviceName; caps: BackendCaps }>>;
}

export interface TopkOptions {
  /** Pool rows per streamed block (0: the backend's default). */
  block?: number;
}

/** The addon's handle on one backend (bindings/backend_wrap.cpp); src/engine.ts wraps it. */
export interface NativeBackend extends EngineOps {
  readonly name: BackendName;
  /** The device of the tensors its ops take. */
  readonly device: DeviceName;
  /** What the backend takes (dtypes per op, top-k pools, attention head dims, ...). */
  readonly caps: BackendCaps;
  /** topk on a worker thread (the event loop stays free); checks run before it returns. */
  topkAsync(
    queries: NativeTensor,
    pool: NativeTensor,
    k: number,
    scores: NativeTensor,
    index: NativeTensor,
    o?: TopkOptions,
  ): Promise<void>;
  /** Waits for queued device work (no-op on host backends); reports kernels' index errors. */
  synchronize(): void;
}

interface TensorClass {
  new (device: DeviceName, dtype: DType, shape: number[]): NativeTensor;
  /** Absent in addons built before it (see mappedTensor). */
  mapFile?(path: string, offset: number, dtype: DType, shape: number[]): NativeTensor;
}

/** MPI as the addon loads it at run time (bindings/dist_bind.cpp; src/comm/ wraps it). */
export interface MpiBinding {
  /** Loads libmpi (once) and says whether it is there; never initialises MPI. */
  mpiAvailable(): { available: boolean; library: string; reason: string };
  /** MPI_Init_thread once per process; this process's place in MPI_COMM_WORLD. */
  mpiInit(): { rank: number; size: number; library: string };
  /** In place, blocking: every rank ends with the element-wise sum. */
  mpiAllreduceSum(a: Float32Array | Float64Array): void;
  mpiAllreduceMax(a: Float64Array): void;
  /** `recv` holds every rank's `send` bytes in rank order (recv.byteLength = size x send.byteLength). */
  mpiAllgather(send: ArrayBufferView, recv: ArrayBufferView): void;
  mpiBroadcast(a: ArrayBufferView, root: number): void;
  mpiBarrier(): void;
  mpiFinalize(): void;
  /** MPI_Abort on COMM_WORLD: every rank of the job ends (code 1..255); never returns. */
  mpiAbort(code: number): never;
}

/** NCCL as the addon loads it at run time (bindings/comm_bind.cpp; src/comm/nccl.ts wraps it). */
export interface NcclBinding {
  ncclAvailable(): { available: boolean; library: string; version: string; reason: string };
  /** ncclGetUniqueId: 128 bytes, made by one rank and sent to the others. */
  ncclUniqueId(): Uint8Array;
  /** ncclCommInitRank; returns the communicator's handle. */
  ncclInit(id: Uint8Array, rank: number, size: number): number;
  /** In place, on the engine's stream: the sum (or with `average` the mean) over the ranks of a CUDA f32/bf16 tensor. */
  ncclAllreduce(comm: number, t: NativeTensor, average: boolean): void;
  ncclDestroy(comm: number): void;
}

interface Addon extends Partial<MpiBinding>, Partial<NcclBinding> {
  Tensor: TensorClass;
  /** The flat BERT (bindings/model_bert.cpp). */
  BertModel: NativeBertClass;
  /** The handle of a backend ('auto': cuda when a device exists, else cpu), one per name and thread. */
  backend(name: BackendName | 'auto'): NativeBackend;
  info(): EngineInfo;
  setThreads(n: number): number;
  bytesInUse(device: DeviceName): number;
  synchronize(): void;
  cudaSyncCounts(): CudaSyncCounts;
  /** The classes the addon's errors are made of, by code (bindings/errors.h). */
  setErrorClasses(classes: Record<string, new (message: string) => Error>): void;
}

// ---- Loading the addon ---------------------------------------------------------------------
// Candidates, in order: BIOFEG_ADDON (an explicit file; nothing else is tried), a source build at
// <package>/build/Release/biofeg.node (`npm ci` in the repository, `npx biofeg build`, or the
// install script's fallback), then the prebuilt <package>/prebuilds/<platform>-<arch>/biofeg.node
// that the npm package ships. The choice is a pure function (planAddon) so it can be tested for
// platforms this machine is not.

/** Node-API version the addon is built against (NAPI_VERSION in CMakeLists.txt). */
export const MIN_NAPI_VERSION = 8;
/** The `<platform>-<arch>` targets the npm package ships a prebuilt addon for. */
export const PREBUILT_TARGETS: readonly string[] = ['linux-x64'];

/** Where an addon file came from. */
export type AddonSource = 'env' | 'source-build' | 'prebuilt';
export interface AddonCandidate {
  source: AddonSource;
  path: string;
}
/** A candidate that was not used, and why. */
export interface AddonAttempt extends AddonCandidate {
  reason: string;
}

export { AddonUnavailableError };

/** What the addon choice depends on (the real process, or a test's stand-in). */
export interface AddonEnvironment {
  platform: string;
  arch: string;
  /** process.versions.napi (undefined on runtimes without Node-API). */
  napi: string | number | undefined;
  nodeVersion: string;
  /** BIOFEG_ADDON, when set. */
  override?: string | undefined;
  /** The package folder (holds package.json, build/, prebuilds/). */
  packageRoot: string;
  /** Whether the package folder is a git checkout (the repository), for the build advice. */
  checkout?: boolean;
  exists(path: string): boolean;
}

/** The ordered candidates to try; `fatal` when nothing may be tried at all. */
export interface AddonPlan {
  candidates: AddonCandidate[];
  skipped: AddonAttempt[];
  fatal?: string;
}

/** Chooses which addon files to try, in order (no file is loaded). */
export function planAddon(env: AddonEnvironment): AddonPlan {
  const napi = typeof env.napi === 'number' ? env.napi : Number.parseInt(env.napi ?? '', 10);
  if (!Number.isFinite(napi) || napi < MIN_NAPI_VERSION) {
    return {
      candidates: [],
      skipped: [],
      fatal: `biofeg needs Node-API ${MIN_NAPI_VERSION} or newer: use Node.js 20 or newer`,
    };
  }
  if (env.override) {
    const path = resolve(env.override);
    if (!env.exists(path))
      return {
        candidates: [],
        skipped: [{ source: 'env', path, reason: 'does not exist' }],
        fatal: `BIOFEG_ADDON=${env.override} does not exist`,
      };
    return { candidates: [{ source: 'env', path }], skipped: [] };
  }
  const candidates: AddonCandidate[] = [];
  const skipped: AddonAttempt[] = [];
  const built = join(env.packageRoot, 'build', 'Release', 'biofeg.node');
  if (env.exists(built)) candidates.push({ source: 'source-build', path: built });
  else skipped.push({ source: 'source-build', path: built, reason: 'not built' });
  const target = `${env.platform}-${env.arch}`;
  const prebuilt = join(env.packageRoot, 'prebuilds', target, 'biofeg.node');
  if (!PREBUILT_TARGETS.includes(target)) {
    skipped.push({
      source: 'prebuilt',
      path: prebuilt,
      reason: `no prebuilt addon for ${target} (the package ships one for ${PREBUILT_TARGETS.join(', ')})`,
    });
  } else if (env.exists(prebuilt)) {
    candidates.push({ source: 'prebuilt', path: prebuilt });
  } else {
    skipped.push({ source: 'prebuilt', path: prebuilt, reason: 'not in this copy of the package (prebuilt addons are made when packing)' });
  }
  return { candidates, skipped };
}

/** The first line of an error's message (dlopen errors can be long). */
function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.trim();
}

/** The message of AddonUnavailableError: what was tried, then how to build from source. */
export function addonUnavailableMessage(env: AddonEnvironment, attempts: readonly AddonAttempt[], fatal?: string): string {
  const rel = (p: string): string => (p.startsWith(env.packageRoot + sep) ? p.slice(env.packageRoot.length + 1) : p);
  const lines = [
    `no usable biofeg native addon for ${env.platform}-${env.arch} (Node ${env.nodeVersion}, Node-API ${env.napi ?? 'none'})${fatal ? `: ${fatal}` : ''}`,
  ];
  for (const a of attempts) lines.push(`  ${rel(a.path)} (${a.source}): ${a.reason}`);
  if (fatal !== undefined && env.override === undefined) return lines.join('\n'); // Node too old: no build helps
  if (env.override !== undefined) {
    lines.push("BIOFEG_ADDON names the addon file to load; point it at a built biofeg.node, or unset it to use the package's own addon.");
    return lines.join('\n');
  }
  lines.push(
    'Build it from source (needs a C++17 compiler and cmake >= 3.18; nvcc is optional, for the CUDA backend):',
    env.checkout
      ? '  npm run build:native        (in this checkout of the repository)'
      : '  npx biofeg build            (or: npm rebuild biofeg)',
  );
  return lines.join('\n');
}

/**
 * Loads the first candidate of the plan that loads; throws AddonUnavailableError (never a raw
 * dlopen error) when none does. `load` is `require` in real use.
 */
export function loadAddonFrom<A>(
  env: AddonEnvironment,
  load: (path: string) => A,
): { addon: A; candidate: AddonCandidate; attempts: AddonAttempt[] } {
  const plan = planAddon(env);
  const attempts: AddonAttempt[] = [...plan.skipped];
  if (plan.fatal !== undefined) throw new AddonUnavailableError(addonUnavailableMessage(env, attempts, plan.fatal), attempts);
  for (const c of plan.candidates) {
    try {
      return { addon: load(c.path), candidate: c, attempts };
    } catch (e) {
      attempts.push({ ...c, reason: `failed to load: ${firstLine(e)}` });
    }
  }
  const order: AddonSource[] = ['env', 'source-build', 'prebuilt'];
  attempts.sort((a, b) => order.indexOf(a.source) - order.indexOf(b.source));
  throw new AddonUnavailableError(addonUnavailableMessage(env, attempts), attempts);
}

let root: string | undefined;
/**
 * The biofeg package folder: the nearest folder above this module whose package.json is named
 * biofeg (the repository, or node_modules/biofeg when installed).
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 5; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === 'biofeg') {
          root = dir;
          return root;
        }
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // src/native.ts sits one level below the package, dist/src/native.js two.
  root = resolve(here, import.meta.url.endsWith('.ts') ? '..' : '../..');
  return root;
}

/** This package's version (package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The addon environment of this process. */
export function addonEnvironment(): AddonEnvironment {
  const pkg = packageRoot();
  return {
    platform: process.platform,
    arch: process.arch,
    napi: process.versions.napi,
    nodeVersion: process.versions.node,
    override: process.env['BIOFEG_ADDON'] || undefined,
    packageRoot: pkg,
    checkout: existsSync(join(pkg, '.git')),
    exists: existsSync,
  };
}

let addon: Addon | undefined;
let loadedFrom: AddonCandidate | undefined;
/** The loaded addon (loaded on first use); throws AddonUnavailableError when none loads. */
export function native(): Addon {
  if (!addon) {
    const req = createRequire(import.meta.url);
    const r = loadAddonFrom(addonEnvironment(), (p) => req(p) as Addon);
    addon = r.addon;
    loadedFrom = r.candidate;
    // Native errors are then the library's classes (their `code` is set either way); an addon
    // built before the error classes has no such function.
    if (typeof addon.setErrorClasses === 'function')
      addon.setErrorClasses({
        ERR_BIOFEG_ARGUMENT: ArgumentError,
        ERR_BIOFEG_DEVICE: DeviceUnavailableError,
        ERR_BIOFEG_MEMORY: OutOfMemoryError,
        ERR_BIOFEG_INTERNAL: class extends BiofegError {
          constructor(message: string) {
            super('ERR_BIOFEG_INTERNAL', message);
          }
        },
      });
  }
  return addon;
}

/** Which addon file native() loaded (loads it first). */
export function addonLocation(): AddonCandidate {
  native();
  return loadedFrom!;
}

export const engineInfo = (): EngineInfo => native().info();

/** The addon's NCCL functions; DeviceUnavailableError when the loaded addon predates them. */
export function ncclBinding(): NcclBinding {
  const { ncclAvailable, ncclUniqueId, ncclInit, ncclAllreduce, ncclDestroy } = native();
  if (!ncclAvailable || !ncclUniqueId || !ncclInit || !ncclAllreduce || !ncclDestroy)
    throw new DeviceUnavailableError(`the addon ${loadedFrom?.path ?? ''} was built without NCCL support (rebuild it: npx biofeg build)`);
  return { ncclAvailable, ncclUniqueId, ncclInit, ncclAllreduce, ncclDestroy };
}

/** The addon's MPI functions; DeviceUnavailableError when the loaded addon predates them. */
export function mpiBinding(): MpiBinding {
  const a = native();
  const { mpiAvailable, mpiInit, mpiAllreduceSum, mpiAllreduceMax, mpiAllgather, mpiBroadcast, mpiBarrier, mpiFinalize, mpiAbort } = a;
  if (
    !mpiAvailable ||
    !mpiInit ||
    !mpiAllreduceSum ||
    !mpiAllreduceMax ||
    !mpiAllgather ||
    !mpiBroadcast ||
    !mpiBarrier ||
    !mpiFinalize ||
    !mpiAbort
  )
    throw new DeviceUnavailableError(`the addon ${loadedFrom?.path ?? ''} was built without MPI support (rebuild it: npx biofeg build)`);
  return { mpiAvailable, mpiInit, mpiAllreduceSum, mpiAllreduceMax, mpiAllgather, mpiBroadcast, mpiBarrier, mpiFinalize, mpiAbort };
}
export const setThreads = (n: number): number => native().setThreads(n);

/** Host waits on the CUDA device since the process started (native/core/device.h; zeros without CUDA). */
export interface CudaSyncCounts {
  /** Device-wide synchronisations. */
  device: number;
  /** Blocking device-to-host copies (downloads, the index-check slot). */
  d2h: number;
  /** Uploads that waited: a large one (blocking copy), or a page-locked staging slot still in flight. */
  h2d: number;
}
export const cudaSyncCounts = (): CudaSyncCounts => native().cudaSyncCounts();
export const bytesInUse = (d: DeviceName): number => native().bytesInUse(d);

/**
 * A host tensor whose values are a file's bytes from byte `offset` (its dtype, little-endian; offset
 * a multiple of 64): memory-mapped copy-on-write and prefaulted, so it costs no copy and its pages
 * are the page cache's until written. The file must not be truncated while the tensor lives.
 * Undefined when the loaded addon predates mapFile (callers read or upload instead).
 */
export function mappedTensor(path: string, offset: number, dtype: DType, shape: number[]): NativeTensor | undefined {
  return native().Tensor.mapFile?.(path, offset, dtype, shape);
}

/** A new zero-filled tensor; `data` uploads initial contents. */
export function tensor(device: DeviceName, dtype: DType, shape: number[], data?: Float32Array | Int32Array): NativeTensor {
  const t = new (native().Tensor)(device, dtype, shape);
  if (data) t.upload(data);
  return t;
}
