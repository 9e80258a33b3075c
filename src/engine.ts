// The engine: one backend of the addon (ref, cpu or cuda) and its ops as methods. Made once per
// backend and thread; every op checks that its tensors live on the engine's device and names
// both devices when one does not (the backend handle is resolved once, so no backend name
// crosses the binding per op). Which backend a name or a device means is decided in one place,
// the addon (native/backends.cpp): engine('auto'), engineFor(device) and pickDevice() ask it.
import { OP_NAMES, type OpName } from './engine-ops.js';
import { native, tensor, type BackendName, type DeviceName, type DType, type NativeBackend, type NativeTensor } from './native.js';

export type { OpName } from './engine-ops.js';
export type { BackendCaps, BackendName, TopkOptions } from './native.js';

/** A backend by name, or 'auto': cuda when this build has it and a device exists, else cpu. */
export type EngineChoice = BackendName | 'auto';

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
/** multiSimilarityLoss's settings; the defaults are SapBERT's (pytorch_metric_learning MultiSimilarityLoss(1, 60, 0.5), TripletMarginMiner(0.2)). */
export interface MsLossOptions {
  alpha?: number;
  beta?: number;
  base?: number;
  margin?: number;
  /** dsim = scale * d(sum of the anchors' losses) / d sim: 1 / M for the mean loss. */
  scale?: number;
}
/** A backend with its ops (EngineOps: one method per op of native/ops.h). */
export interface Engine extends NativeBackend {
  /** A new zero-filled tensor on this engine's device; `data` uploads initial contents. */
  tensor(dtype: DType, shape: number[], data?: Float32Array | Int32Array): NativeTensor;
  /** The float dtypes an op's operands may have here. */
  floats(op: OpName): DType[];
}

// The methods are the native handle's own (bound once), so an op call is one native call.
function makeEngine(nb: NativeBackend): Engine {
  const e: Record<string, unknown> = {
    name: nb.name,
    device: nb.device,
    caps: nb.caps,
    topkAsync: nb.topkAsync.bind(nb),
    synchronize: nb.synchronize.bind(nb),
    tensor: (dtype: DType, shape: number[], data?: Float32Array | Int32Array): NativeTensor => tensor(nb.device, dtype, shape, data),
    floats: (op: OpName): DType[] => nb.caps.opFloats[op] ?? nb.caps.floats,
  };
  for (const op of OP_NAMES) {
    const f = (nb as unknown as Record<string, unknown>)[op];
    if (typeof f !== 'function') throw new Error(`engine ${nb.name}: the addon has no op '${op}' (rebuild it: it predates native/ops.h)`);
    e[op] = (f as (...a: unknown[]) => unknown).bind(nb);
  }
  return e as unknown as Engine;
}

const engines = new Map<string, Engine>();

/**
 * The engine of a backend ('auto': cuda when a device exists, else cpu); one per backend and
 * thread. Throws, naming what is missing, for a backend this build or machine cannot run.
 */
export function engine(choice: EngineChoice = 'auto'): Engine {
  let e = engines.get(choice);
  if (!e) {
    const nb = native().backend(choice);
    e = engines.get(nb.name) ?? makeEngine(nb);
    engines.set(nb.name, e);
    engines.set(choice, e);
  }
  return e;
}

/** The engine that computes on a device's tensors (its fast backend), or on a tensor's device. */
export function engineFor(where: DeviceName | NativeTensor): Engine {
  const d = typeof where === 'string' ? where : where.device;
  if (d === 'disposed') throw new Error('engine: the tensor has been disposed');
  return engine(d);
}

/** Resolves the user's device choice: 'auto' picks CUDA when a device exists. */
export function pickDevice(want: DeviceName | 'auto' = 'auto'): DeviceName {
  return engine(want).device;
}
