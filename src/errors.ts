// The library's error classes. Each has a stable `code` a service can branch on; they survive the
// hop from a worker thread (toWire/fromWire) with their class, code and fields intact.
import type { AddonAttempt } from './native.js';

/** Every stable error code biofeg throws. */
export type BiofegErrorCode =
  | 'ERR_BIOFEG_SETTINGS'
  | 'ERR_BIOFEG_INPUT'
  | 'ERR_BIOFEG_CHECKPOINT'
  | 'ERR_BIOFEG_DEVICE'
  | 'ERR_BIOFEG_ABORTED'
  | 'ERR_BIOFEG_NONFINITE'
  | 'ERR_BIOFEG_ADDON'
  | 'ERR_BIOFEG_BUSY'
  | 'ERR_BIOFEG_OVERLOADED'
  | 'ERR_BIOFEG_ARGUMENT'
  | 'ERR_BIOFEG_MEMORY'
  | 'ERR_BIOFEG_INTERNAL';

/** Base class of every error biofeg throws on purpose. */
export class BiofegError extends Error {
  /** Stable, machine-readable: branch on this, not on the message. */
  readonly code: BiofegErrorCode;
  constructor(code: BiofegErrorCode, message: string) {
    super(message);
    this.name = 'BiofegError';
    this.code = code;
  }
}

/** A settings object (or a CLI flag, or a pipeline config key) with a wrong type, range or name. */
export class SettingsError extends BiofegError {
  /** The settings field at fault, camelCase (e.g. `topK`), or `(settings)` for the whole object. */
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_BIOFEG_SETTINGS', message);
    this.name = 'SettingsError';
    this.field = field;
  }
}

/** A bad input file: the message reads `path:line: what was expected`. */
export class InputError extends BiofegError {
  readonly path: string;
  readonly line: number | undefined;
  constructor(path: string, line: number | undefined, detail: string) {
    super('ERR_BIOFEG_INPUT', line === undefined ? `${path}: ${detail}` : `${path}:${line}: ${detail}`);
    this.name = 'InputError';
    this.path = path;
    this.line = line;
  }
}

/** A checkpoint or model that cannot be read, or that does not fit what it is used with. */
export class CheckpointRejectedError extends BiofegError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('ERR_BIOFEG_CHECKPOINT', message);
    this.name = 'CheckpointRejectedError';
    this.path = path;
  }
}

/** The requested device (or precision on it) is not available in this build or on this machine. */
export class DeviceUnavailableError extends BiofegError {
  constructor(message: string) {
    super('ERR_BIOFEG_DEVICE', message);
    this.name = 'DeviceUnavailableError';
  }
}

/**
 * A run stopped by an AbortSignal (or Ctrl-C in the CLI) at the end of a step. Training runs
 * write a checkpoint first; `resumeHint` says how to continue.
 */
export class AbortError extends BiofegError {
  readonly resumeHint: string;
  constructor(message = 'aborted', resumeHint = '') {
    super('ERR_BIOFEG_ABORTED', message);
    this.name = 'AbortError';
    this.resumeHint = resumeHint;
  }
}

/** Training met a NaN or infinite loss; the last good checkpoint is kept. */
export class NonFiniteError extends BiofegError {
  readonly step: number;
  readonly value: number;
  constructor(message: string, step: number, value: number) {
    super('ERR_BIOFEG_NONFINITE', message);
    this.name = 'NonFiniteError';
    this.step = step;
    this.value = value;
  }
}

/** Another run holds the output folder (its lock file names the process). */
export class OutputBusyError extends BiofegError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('ERR_BIOFEG_BUSY', message);
    this.name = 'OutputBusyError';
    this.path = path;
  }
}

/**
 * A Linker already holds `maxConcurrentRequests` queued and in-flight mentions: the call is refused
 * at once (a service answers 503) rather than queued without bound.
 */
export class OverloadedError extends BiofegError {
  /** The limit that was reached. */
  readonly limit: number;
  constructor(message: string, limit: number) {
    super('ERR_BIOFEG_OVERLOADED', message);
    this.name = 'OverloadedError';
    this.limit = limit;
  }
}

/**
 * A call into the native engine (a Tensor, an op of an engine, a BertModel) with an argument of a
 * wrong type, shape, size, dtype, device or range; the message names the call and the argument.
 */
export class ArgumentError extends BiofegError {
  constructor(message: string) {
    super('ERR_BIOFEG_ARGUMENT', message);
    this.name = 'ArgumentError';
  }
}

/** The engine could not allocate host memory (or a typed array) of the size asked for. */
export class OutOfMemoryError extends BiofegError {
  constructor(message: string) {
    super('ERR_BIOFEG_MEMORY', message);
    this.name = 'OutOfMemoryError';
  }
}

/**
 * No native addon could be loaded (code `ERR_BIOFEG_ADDON`); the message says what was tried and
 * how to build one from source.
 */
export class AddonUnavailableError extends BiofegError {
  /** Every candidate looked at, with the reason it was not used. */
  readonly attempts: readonly AddonAttempt[];
  constructor(message: string, attempts: readonly AddonAttempt[] = []) {
    super('ERR_BIOFEG_ADDON', message);
    this.name = 'AddonUnavailableError';
    this.attempts = attempts;
  }
}

/** An error as it crosses a thread boundary (structured clone keeps no classes). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  fields?: Record<string, string | number | null>;
}

function fieldsOf(e: Error): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  const own: Record<string, unknown> = { ...e };
  for (const k of ['field', 'path', 'line', 'resumeHint', 'step', 'value', 'limit'] as const) {
    const v = own[k];
    if (typeof v === 'string' || typeof v === 'number') out[k] = v;
  }
  return out;
}

/** Flattens any thrown value for postMessage. */
export function toWire(e: unknown): WireError {
  if (e instanceof BiofegError)
    return { name: e.name, message: e.message, code: e.code, fields: fieldsOf(e), ...(e.stack ? { stack: e.stack } : {}) };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}), ...(e.stack ? { stack: e.stack } : {}) };
  }
  return { name: 'Error', message: String(e) };
}

const str = (v: string | number | null | undefined): string => (typeof v === 'string' ? v : '');
const num = (v: string | number | null | undefined): number => (typeof v === 'number' ? v : NaN);

/** Rebuilds the error class `toWire` flattened (a plain Error for anything not ours). */
export function fromWire(w: WireError): Error {
  const f = w.fields ?? {};
  let e: Error;
  switch (w.code) {
    case 'ERR_BIOFEG_SETTINGS':
      e = new SettingsError(str(f['field']), w.message);
      break;
    case 'ERR_BIOFEG_INPUT': {
      e = new InputError(str(f['path']), typeof f['line'] === 'number' ? f['line'] : undefined, '');
      e.message = w.message;
      break;
    }
    case 'ERR_BIOFEG_CHECKPOINT':
      e = new CheckpointRejectedError(str(f['path']), w.message);
      break;
    case 'ERR_BIOFEG_DEVICE':
      e = new DeviceUnavailableError(w.message);
      break;
    case 'ERR_BIOFEG_ABORTED':
      e = new AbortError(w.message, str(f['resumeHint']));
      break;
    case 'ERR_BIOFEG_NONFINITE':
      e = new NonFiniteError(w.message, num(f['step']), num(f['value']));
      break;
    case 'ERR_BIOFEG_ADDON':
      e = new AddonUnavailableError(w.message);
      break;
    case 'ERR_BIOFEG_BUSY':
      e = new OutputBusyError(str(f['path']), w.message);
      break;
    case 'ERR_BIOFEG_OVERLOADED':
      e = new OverloadedError(w.message, num(f['limit']));
      break;
    case 'ERR_BIOFEG_ARGUMENT':
      e = new ArgumentError(w.message);
      break;
    case 'ERR_BIOFEG_MEMORY':
      e = new OutOfMemoryError(w.message);
      break;
    case 'ERR_BIOFEG_INTERNAL':
      e = new BiofegError(w.code, w.message);
      break;
    default: {
      e = new Error(w.message);
      e.name = w.name;
      if (w.code !== undefined) (e as Error & { code?: string }).code = w.code;
    }
  }
  if (w.stack) e.stack = w.stack;
  return e;
}
