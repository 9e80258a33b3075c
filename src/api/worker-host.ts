// The caller's side of the worker threads that run every long call, so the caller's event loop
// stays free: start a worker on worker-entry, relay its progress events, map AbortSignal to the
// shared stop flag it polls, and rebuild its errors with their classes.
import { Worker } from 'node:worker_threads';

import { AbortError, BiofegError, fromWire, type WireError } from '../errors.js';
import { SharedStopFlag } from '../train/interrupt.js';
import { tsWorkerBoot } from '../worker-boot.js';
import type { CallOptions, ProgressEvent } from './events.js';
import type { TaskName, TaskResult, TaskSettings } from './tasks.js';

/** Messages a worker posts. */
export type WorkerMessage =
  | { type: 'event'; id: number; event: ProgressEvent }
  | { type: 'done'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError };

const fromTs = import.meta.url.endsWith('.ts');
const ENTRY = new URL(fromTs ? './worker-entry.ts' : './worker-entry.js', import.meta.url);

/** A worker on worker-entry (built JS, or TypeScript sources through tsx). */
export function startWorker(workerData: unknown): Worker {
  if (!fromTs) return new Worker(ENTRY, { workerData });
  return new Worker(tsWorkerBoot(ENTRY), { eval: true, workerData });
}

/** A new stop flag for one call, raised when `signal` aborts. Returns the buffer and an unsubscribe. */
export function stopFlagFor(signal: AbortSignal | undefined): { buffer: SharedArrayBuffer; release: () => void } {
  const buffer = new SharedArrayBuffer(4);
  if (!signal) return { buffer, release: () => undefined };
  const onAbort = (): void => SharedStopFlag.raise(buffer);
  signal.addEventListener('abort', onAbort, { once: true });
  return { buffer, release: () => signal.removeEventListener('abort', onAbort) };
}

export function checkCallOptions(o: CallOptions | undefined): CallOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw new BiofegError('ERR_BIOFEG_SETTINGS', 'options: expected { signal?, onProgress? }');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new BiofegError('ERR_BIOFEG_SETTINGS', 'options.onProgress: expected a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new BiofegError('ERR_BIOFEG_SETTINGS', 'options.signal: expected an AbortSignal');
  return o;
}

/** Runs task `name` in a new worker thread; resolves with its result, rejects with its error (same class). */
export function runTask<K extends TaskName>(name: K, settings: TaskSettings<K>, options?: CallOptions): Promise<TaskResult<K>> {
  let o: CallOptions;
  try {
    o = checkCallOptions(options);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  if (o.signal?.aborted) return Promise.reject(new AbortError(`${name}: aborted before it started`));
  const stop = stopFlagFor(o.signal);
  return new Promise<TaskResult<K>>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      stop.release();
      f();
    };
    let worker: Worker;
    try {
      worker = startWorker({ kind: 'task', name, settings, stop: stop.buffer });
    } catch (e) {
      settle(() => reject(e as Error));
      return;
    }
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'event') {
        try {
          o.onProgress?.(m.event);
        } catch {
          // A throwing listener must not stop the run; the caller owns its listener.
        }
      } else {
        // The thread ends by itself once its task has returned; it must not hold the process open.
        worker.unref();
        if (m.type === 'done') settle(() => resolve(m.value as TaskResult<K>));
        else settle(() => reject(fromWire(m.error)));
      }
    });
    worker.on('error', (e) => settle(() => reject(e)));
    worker.on('exit', (code) =>
      settle(() => reject(new BiofegError('ERR_BIOFEG_INTERNAL', `${name}: its worker thread exited (code ${code}) without a result`))),
    );
  });
}
