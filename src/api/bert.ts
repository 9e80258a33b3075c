// loadBert: one BERT held by its own worker thread, so encoding never blocks the caller's event
// loop; requests queue in order on it.
import type { Worker } from 'node:worker_threads';

import { AbortError, BiofegError, fromWire } from '../errors.js';
import type { BertFacts, EncodeOptions, LoadBertOptions } from '../stages/encode.js';
import type { CallOptions } from './events.js';
import type { BertRequest } from './worker-entry.js';
import { checkCallOptions, startWorker, stopFlagFor, type WorkerMessage } from './worker-host.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  options: CallOptions;
}

/** A loaded BERT (HF folder or one side of a bi-encoder checkpoint). Create with {@link loadBert}. */
export class BertEncoder {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly facts: BertFacts,
  ) {
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', () => this.fail(new BiofegError('ERR_BIOFEG_INTERNAL', 'BertEncoder: its worker thread exited')));
  }

  /** @internal use {@link loadBert}. */
  static async start(model: string, options: LoadBertOptions): Promise<BertEncoder> {
    const worker = startWorker({ kind: 'bert', model, options });
    const facts = await new Promise<BertFacts>((resolve, reject) => {
      const onMessage = (m: WorkerMessage): void => {
        worker.off('message', onMessage);
        if (m.type === 'done') resolve(m.value as BertFacts);
        else if (m.type === 'error') {
          void worker.terminate();
          reject(fromWire(m.error));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new BertEncoder(worker, facts);
  }

  /** Width of each encoding. */
  get hiddenSize(): number {
    return this.facts.hiddenSize;
  }

  /**
   * Encodes `texts` ([CLS] vectors of the last layer, or the pooler output with `pooled`).
   * Resolves to a row-major Float32Array of texts.length x hiddenSize.
   */
  encode(texts: readonly string[], options: EncodeOptions & CallOptions = {}): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new BiofegError('ERR_BIOFEG_INTERNAL', 'BertEncoder: disposed'));
    if (this.failure) return Promise.reject(this.failure);
    let call: CallOptions;
    try {
      call = checkCallOptions({
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (call.signal?.aborted) return Promise.reject(new AbortError('encode: aborted before it started'));
    const { signal: _s, onProgress: _p, ...encode } = options;
    const id = this.nextId++;
    const stop = stopFlagFor(call.signal);
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, options: call });
      const req: BertRequest = { op: 'encode', id, texts: [...texts], options: encode, stop: stop.buffer };
      this.worker.postMessage(req);
    }).finally(stop.release) as Promise<Float32Array>;
  }

  /** Ends the worker thread and frees the model. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.failure) {
      const id = this.nextId++;
      await new Promise<unknown>((resolve, reject) => {
        this.pending.set(id, { resolve, reject, options: {} });
        this.worker.postMessage({ op: 'close', id } satisfies BertRequest);
      }).catch(() => undefined);
    }
    await this.worker.terminate();
  }

  private onMessage(m: WorkerMessage): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'event') {
      try {
        p.options.onProgress?.(m.event);
      } catch {
        // the caller's listener
      }
      return;
    }
    this.pending.delete(m.id);
    if (m.type === 'done') p.resolve(m.value);
    else p.reject(fromWire(m.error));
  }

  private fail(e: Error): void {
    if (this.closed && this.pending.size === 0) return;
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/**
 * Loads a BERT for encoding: an HF BERT folder, one side (`side`) of a bi-encoder checkpoint, or a
 * built-in size (`tiny`, `small`, `base`) initialised at random from `seed`.
 * The model lives in a worker thread of its own until {@link BertEncoder.dispose}.
 */
export function loadBert(model: string, options: LoadBertOptions = {}): Promise<BertEncoder> {
  return BertEncoder.start(model, options);
}
