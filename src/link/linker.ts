// Linker: a bi-encoder and an entity index loaded once, linking mentions from a Node service.
// The model, the index, tokenization and search live in a worker thread (linker-worker.ts); this
// side only queues requests, coalesces concurrent calls into encoder batches, and maps the
// worker's top-k rows to ids and names. Nothing here is proportional to the index or the model.
import { Worker } from 'node:worker_threads';

import { AbortError, BiofegError, fromWire, OverloadedError, SettingsError } from '../errors.js';
import { tsWorkerBoot } from '../worker-boot.js';
import { StringTable } from './index-file.js';
import type { LinkerFacts, LinkerReply, LinkerRequest, LinkerWorkerData, WireMention } from './linker-worker.js';
import type { LinkCandidate, LinkerBatch, LinkerInfo, LinkerOptions, LinkerStats, LinkMention, LinkOptions } from './types.js';

const fromTs = import.meta.url.endsWith('.ts');
const ENTRY = new URL(fromTs ? './linker-worker.ts' : './linker-worker.js', import.meta.url);

const DEFAULTS = { maxBatchTokens: 16384, maxWaitMs: 2, maxConcurrentRequests: 512, topK: 8 } as const;

/** One link or embed call, while some of its mentions are queued or in flight. */
interface Request {
  kind: 'link' | 'embed';
  mentions: WireMention[];
  k: number;
  /** Reranked calls share a batch only with reranked calls of the same k (the k candidates are reranked). */
  rerank: boolean;
  /** Mentions [0, next) have been sent to the worker. */
  next: number;
  /** Mentions not yet answered. */
  open: number;
  /** performance.now() by which its first batch should go (arrival + maxWaitMs, or arrival: see schedule). */
  due: number;
  out: LinkCandidate[][] | Float32Array[];
  settled: boolean;
  resolve: (v: LinkCandidate[][] | Float32Array[]) => void;
  reject: (e: Error) => void;
  release: () => void;
}

/** The mentions [from, to) of one request in a batch. */
interface Part {
  req: Request;
  from: number;
  to: number;
}

function settingInt(v: unknown, field: string, min: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new SettingsError(field, `Linker: ${field} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function checkSignal(s: unknown): AbortSignal | undefined {
  if (s === undefined) return undefined;
  if (!(s instanceof AbortSignal)) throw new SettingsError('signal', 'Linker: signal must be an AbortSignal');
  return s;
}

function wireMention(m: unknown, i: number): WireMention {
  if (typeof m === 'string') return { text: m, left: '', right: '' };
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    throw new SettingsError('mentions', `link: mentions[${i}] must be a string or { text, left?, right? }`);
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'text' && k !== 'left' && k !== 'right')
      throw new SettingsError('mentions', `link: mentions[${i}] has an unknown field "${k}"`);
  if (typeof o['text'] !== 'string') throw new SettingsError('mentions', `link: mentions[${i}].text must be a string`);
  for (const k of ['left', 'right'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new SettingsError('mentions', `link: mentions[${i}].${k} must be a string`);
  return { text: o['text'], left: (o['left'] as string | undefined) ?? '', right: (o['right'] as string | undefined) ?? '' };
}

/**
 * A bi-encoder and an entity index, loaded once; links mention strings to entities.
 *
 * Model and index work (tokenization included) run in a worker thread, so the caller's event loop
 * stays free. Concurrent {@link Linker.link} calls are coalesced into one encoder batch of up to
 * `maxBatchTokens` tokens, or whatever arrived within `maxWaitMs` of the first (time spent queued
 * behind a running batch counts); a call that finds the Linker idle after a batch of a single call
 * does not wait (a lone caller would only lose the time), but still shares its batch with the calls
 * made in the same turn of the event loop. Beyond
 * `maxConcurrentRequests` queued and in-flight mentions a call is refused at once with an
 * {@link OverloadedError}.
 *
 * @example
 * ```ts
 * const linker = await Linker.load('work/model', 'work/index');
 * const [cands] = await linker.link([{ text: 'T2D', left: 'patients with', right: 'were enrolled' }], { topK: 5 });
 * await linker.close();
 * ```
 */
export class Linker {
  private readonly queue: Request[] = [];
  private queued = 0;
  private inFlight = 0;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  /** Calls in the last batch; undefined before the first (see schedule: whether waiting can pay). */
  private lastCalls: number | undefined;
  private batches = 0;
  private lastMentions = 0;
  private lastTokens = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: LinkerReply) => void>();
  private readonly batchListeners = new Set<(b: LinkerBatch) => void>();
  private closing: Promise<void> | undefined;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;
  /** Mentions per coalesced batch: the token budget over the window length. */
  private readonly batchMentions: number;

  private constructor(
    private readonly worker: Worker,
    private readonly facts: LinkerFacts,
    private readonly strings: StringTable,
    private readonly modelDir: string,
    private readonly o: Required<Pick<LinkerOptions, 'maxBatchTokens' | 'maxWaitMs' | 'maxConcurrentRequests'>>,
  ) {
    this.batchMentions = Math.max(1, Math.floor(o.maxBatchTokens / facts.maxContextLength));
    // An idle Linker does not keep the process alive (a script that forgets close() still exits);
    // the worker is referenced only while a batch or a close is in flight.
    worker.unref();
    worker.on('message', (r: LinkerReply) => {
      if (r.type === 'ready') return;
      const w = this.waiting.get(r.id);
      if (w) {
        this.waiting.delete(r.id);
        w(r);
      }
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', () => this.fail(new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker: its worker thread exited')));
  }

  /**
   * Loads a bi-encoder checkpoint folder (biofeg's, or the original's `pytorch_model.bin` with its
   * config.json and vocab.txt) and an entity index built from the same model (`buildIndex`); an
   * index of another model is refused (CheckpointRejectedError). The context windows are the
   * checkpoint's recorded `max_context_length` (default 128 for a checkpoint recording none)
   * unless `maxContextLength` is given; a value other than the recorded one is used with a warning
   * (`process.emitWarning`, code BIOFEG_LINKER).
   *
   * Loading does no per-row work: on the CPU the index's vectors are memory-mapped in their stored
   * dtype (no copy; the pages are the page cache's, shared by every process serving the index, and
   * an index update's new files leave them intact), on CUDA read in one pass; only the context
   * encoder is loaded, the candidate encoder's weights are hashed from the checkpoint file to check
   * the index (`npm run bench:index-load` measures it).
   *
   * With `crossencoder` (a train-crossencoder folder) `link(..., { rerank: true })` reranks: the
   * cross-encoder must share the bi-encoder's vocabulary (else CheckpointRejectedError) and the
   * index must keep entity texts (indexes built by this biofeg do).
   */
  static async load(modelDir: string, indexDir: string, options: LinkerOptions = {}): Promise<Linker> {
    if (typeof modelDir !== 'string' || modelDir === '') throw new SettingsError('modelDir', 'Linker.load: expected a model folder');
    if (typeof indexDir !== 'string' || indexDir === '') throw new SettingsError('indexDir', 'Linker.load: expected an index folder');
    if (typeof options !== 'object' || options === null) throw new SettingsError('(settings)', 'Linker.load: options must be an object');
    const known = [
      'device',
      'precision',
      'threads',
      'maxBatchTokens',
      'maxWaitMs',
      'maxConcurrentRequests',
      'maxContextLength',
      'crossencoder',
    ];
    for (const k of Object.keys(options))
      if (!known.includes(k)) throw new SettingsError(k, `Linker.load: unknown option "${k}" (expected ${known.join(', ')})`);
    const device = options.device ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(device))
      throw new SettingsError('device', `Linker.load: device must be auto, cpu or cuda, got ${String(device)}`);
    const precision = options.precision ?? 'f32';
    if (precision !== 'f32' && precision !== 'bf16')
      throw new SettingsError('precision', `Linker.load: precision must be f32 or bf16, got ${String(precision)}`);
    const o = {
      maxBatchTokens: settingInt(options.maxBatchTokens, 'maxBatchTokens', 1, DEFAULTS.maxBatchTokens),
      maxWaitMs: settingInt(options.maxWaitMs, 'maxWaitMs', 0, DEFAULTS.maxWaitMs),
      maxConcurrentRequests: settingInt(options.maxConcurrentRequests, 'maxConcurrentRequests', 1, DEFAULTS.maxConcurrentRequests),
    };
    const threads = options.threads === undefined ? undefined : settingInt(options.threads, 'threads', 0, 0);
    const maxContextLength =
      options.maxContextLength === undefined ? undefined : settingInt(options.maxContextLength, 'maxContextLength', 4, 0);
    const crossencoder = options.crossencoder;
    if (crossencoder !== undefined && (typeof crossencoder !== 'string' || crossencoder === ''))
      throw new SettingsError('crossencoder', 'Linker.load: crossencoder must be a cross-encoder checkpoint folder');
    const data: LinkerWorkerData = {
      model: modelDir,
      index: indexDir,
      device,
      precision,
      ...(threads !== undefined ? { threads } : {}),
      maxBatchTokens: o.maxBatchTokens,
      ...(maxContextLength !== undefined ? { maxContextLength } : {}),
      ...(crossencoder !== undefined ? { crossencoder } : {}),
    };
    const worker = fromTs ? new Worker(tsWorkerBoot(ENTRY), { eval: true, workerData: data }) : new Worker(ENTRY, { workerData: data });
    const facts = await new Promise<LinkerFacts>((resolve, reject) => {
      const onMessage = (m: LinkerReply): void => {
        worker.off('message', onMessage);
        if (m.type === 'ready') resolve(m.facts);
        else if (m.type === 'error') {
          void worker.terminate();
          reject(fromWire(m.error));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new BiofegError('ERR_BIOFEG_INTERNAL', `Linker.load: its worker thread exited (code ${code})`)));
    });
    for (const w of facts.warnings) process.emitWarning(w, { code: 'BIOFEG_LINKER' });
    const strings = StringTable.from(Buffer.from(facts.strings), `${indexDir} (entities)`);
    return new Linker(worker, facts, strings, modelDir, o);
  }

  /**
   * Links each mention: per mention its `topK` (default 8) candidates, best first (ties: the
   * earlier index row first), in mention order. A mention with context is encoded as training
   * encodes it: `[CLS] left [unused0] mention [unused1] right [SEP]` cut to the checkpoint's window.
   * With `rerank: true` the `topK` candidates are scored by the loaded cross-encoder (the pairs
   * train-crossencoder and evaluate-crossencoder build) and come ordered by `crossScore`; `score`
   * stays the bi-encoder's.
   */
  link(mentions: LinkMention[], options: LinkOptions = {}): Promise<LinkCandidate[][]> {
    return this.submit('link', mentions, options) as Promise<LinkCandidate[][]>;
  }

  /**
   * The mention-side vectors of plain texts (each encoded as a mention without context, so
   * `embed([t])[0]` · an entity's vector is the score `link([t])` gives that entity).
   */
  embed(texts: string[], options: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    if (Array.isArray(texts) && texts.some((t) => typeof t !== 'string'))
      return Promise.reject(new SettingsError('texts', 'embed: expected an array of strings'));
    return this.submit('embed', texts, options) as Promise<Float32Array[]>;
  }

  /** What is loaded. */
  info(): LinkerInfo {
    const f = this.facts;
    return {
      model: this.modelDir,
      modelHash: f.modelHash,
      entities: f.entities,
      dim: f.dim,
      dtype: f.dtype,
      device: f.device,
      maxContextLength: f.maxContextLength,
      maxCandLength: f.maxCandLength,
      ...(f.crossencoder ? { crossencoder: f.crossencoder.dir } : {}),
    };
  }

  /** Queue and batch counters (for `/metrics`). */
  stats(): LinkerStats {
    return {
      queued: this.queued,
      inFlight: this.inFlight,
      batches: this.batches,
      lastBatchMentions: this.lastMentions,
      lastBatchTokens: this.lastTokens,
    };
  }

  /**
   * Calls `listener` after each encoder batch that was answered (its mentions, padded tokens and
   * time), as `/metrics` records batch sizes; returns the function that unsubscribes it. A listener
   * that throws is reported as a process warning, not to the callers whose batch it was.
   */
  onBatch(listener: (b: LinkerBatch) => void): () => void {
    if (typeof listener !== 'function') throw new SettingsError('listener', 'onBatch: expected a function');
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  /**
   * Refuses new calls, lets the queued and in-flight ones finish, then stops the worker and frees
   * the model and the index.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure && (this.queue.length > 0 || this.busy)) await new Promise<void>((r) => (this.drained = r));
      if (!this.failure) {
        const id = this.nextId++;
        await new Promise<void>((resolve) => {
          this.waiting.set(id, () => resolve());
          this.worker.ref();
          this.worker.postMessage({ op: 'close', id } satisfies LinkerRequest);
        });
      }
      this.failure ??= new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker: closed');
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private submit(kind: 'link' | 'embed', mentions: unknown, options: LinkOptions): Promise<LinkCandidate[][] | Float32Array[]> {
    let req: Request;
    try {
      if (this.closing) throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker: closed');
      if (this.failure) throw this.failure;
      if (typeof options !== 'object' || options === null) throw new SettingsError('(settings)', `${kind}: options must be an object`);
      const signal = checkSignal(options.signal);
      if (!Array.isArray(mentions)) throw new SettingsError('mentions', `${kind}: expected an array of mentions`);
      const k = kind === 'link' ? settingInt(options.topK, 'topK', 1, Math.min(DEFAULTS.topK, this.facts.entities)) : 1;
      const kMax = Math.min(this.facts.entities, this.facts.topkMaxK > 0 ? this.facts.topkMaxK : Infinity);
      if (k > kMax) throw new SettingsError('topK', `link: topK ${k} exceeds ${kMax} (the index has ${this.facts.entities} entities)`);
      if (options.rerank !== undefined && typeof options.rerank !== 'boolean')
        throw new SettingsError('rerank', `link: rerank must be a boolean, got ${typeof options.rerank}`);
      const rerank = kind === 'link' && options.rerank === true;
      if (rerank && !this.facts.crossencoder)
        throw new SettingsError(
          'rerank',
          'link: rerank needs a cross-encoder, and none is loaded (Linker.load(model, index, { crossencoder: DIR }); biofeg serve --crossencoder DIR)',
        );
      const wire = mentions.map(wireMention);
      if (signal?.aborted) throw new AbortError(`${kind}: aborted before it started`);
      const max = this.o.maxConcurrentRequests;
      if (wire.length > max)
        throw new SettingsError(
          'mentions',
          `${kind}: ${wire.length} mentions in one call exceed maxConcurrentRequests (${max}); split the call`,
        );
      if (wire.length === 0) return Promise.resolve([]);
      if (this.queued + this.inFlight + wire.length > max)
        throw new OverloadedError(
          `${kind}: overloaded (${this.queued} queued and ${this.inFlight} in-flight mentions; maxConcurrentRequests ${max})`,
          max,
        );
      let resolve!: Request['resolve'];
      let reject!: Request['reject'];
      const p = new Promise<LinkCandidate[][] | Float32Array[]>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const onAbort = (): void => this.abort(req, new AbortError(`${kind}: aborted`));
      signal?.addEventListener('abort', onAbort, { once: true });
      // A call that finds the Linker idle after a batch of one call goes without waiting for
      // company (see schedule); otherwise it waits up to maxWaitMs from now.
      const now = performance.now();
      const alone = !this.busy && this.queue.length === 0 && this.lastCalls === 1;
      req = {
        kind,
        mentions: wire,
        k,
        rerank,
        next: 0,
        open: wire.length,
        due: alone ? now : now + this.o.maxWaitMs,
        out: new Array(wire.length),
        settled: false,
        resolve,
        reject,
        release: () => signal?.removeEventListener('abort', onAbort),
      };
      this.queue.push(req);
      this.queued += wire.length;
      this.schedule();
      return p;
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Queued mentions of an aborted call leave the queue; answers for its in-flight ones are dropped. */
  private abort(req: Request, e: Error): void {
    if (req.settled) return;
    const i = this.queue.indexOf(req);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.queued -= req.mentions.length - req.next;
    }
    this.settle(req, e);
    this.schedule();
  }

  private settle(req: Request, e?: Error): void {
    if (req.settled) return;
    req.settled = true;
    req.release();
    if (e) req.reject(e);
    else req.resolve(req.out);
  }

  /**
   * A full batch goes at once; a partial one when the oldest queued call is due: maxWaitMs after it
   * arrived (time spent queued behind a busy worker counts), or at once for a call that found the
   * Linker idle after a batch of a single call. Waiting for company pays only when calls come
   * together; a lone caller (concurrency 1) would pay the whole wait on every call for nothing. A
   * due batch still goes through setImmediate, so the calls made in the same turn of the event loop
   * share it. Before the first batch there is no evidence either way: the wait applies.
   */
  private schedule(): void {
    if (this.busy || this.failure) return;
    if (this.queue.length === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.drained?.();
      this.drained = undefined;
      return;
    }
    if (this.queued >= this.batchMentions || this.closing) {
      this.dispatch();
      return;
    }
    const left = this.queue[0]!.due - performance.now();
    if (left <= 0) {
      this.soon ??= setImmediate(() => {
        this.soon = undefined;
        this.dispatch();
      });
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.dispatch();
    }, left);
  }

  /** Sends the oldest queued mentions of one kind (up to a batch) to the worker. */
  private dispatch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
    if (this.busy || this.failure || this.queue.length === 0) return;
    const first = this.queue[0]!;
    const kind = first.kind;
    const rerank = first.rerank;
    const parts: Part[] = [];
    let room = this.batchMentions;
    let k = 1;
    for (let i = 0; i < this.queue.length && room > 0; ) {
      const req = this.queue[i]!;
      if (req.kind !== kind || req.rerank !== rerank || (rerank && req.k !== first.k)) {
        i++;
        continue;
      }
      const take = Math.min(room, req.mentions.length - req.next);
      parts.push({ req, from: req.next, to: req.next + take });
      req.next += take;
      room -= take;
      k = Math.max(k, req.k);
      if (req.next === req.mentions.length) this.queue.splice(i, 1);
      else i++;
    }
    this.lastCalls = parts.length;
    const mentions = parts.flatMap((p) => p.req.mentions.slice(p.from, p.to));
    const n = mentions.length;
    this.queued -= n;
    this.inFlight += n;
    this.busy = true;
    const id = this.nextId++;
    const sent = performance.now();
    this.waiting.set(id, (r) => {
      this.worker.unref();
      this.busy = false;
      this.inFlight -= n;
      this.batches++;
      this.lastMentions = n;
      if (r.type === 'error') {
        const e = fromWire(r.error);
        for (const p of parts) this.settle(p.req, e);
      } else if (r.type === 'link') {
        this.lastTokens = r.tokens;
        this.answerLinks(parts, r.indices, r.scores, r.crossScores, k);
      } else if (r.type === 'embed') {
        this.lastTokens = r.tokens;
        this.answerEmbeds(parts, r.vectors);
      }
      if (r.type === 'link' || r.type === 'embed')
        this.observe({ kind, mentions: n, tokens: r.tokens, seconds: (performance.now() - sent) / 1000 });
      this.schedule();
    });
    const msg: LinkerRequest = kind === 'link' ? { op: 'link', id, mentions, k, rerank } : { op: 'embed', id, mentions };
    this.worker.ref();
    this.worker.postMessage(msg);
  }

  private observe(b: LinkerBatch): void {
    for (const l of this.batchListeners) {
      try {
        l(b);
      } catch (e) {
        process.emitWarning(`Linker.onBatch listener threw: ${(e as Error).message ?? String(e)}`, { code: 'BIOFEG_LINKER' });
      }
    }
  }

  private answerLinks(parts: Part[], indices: Int32Array, scores: Float32Array, cross: Float32Array | undefined, k: number): void {
    let row = 0;
    for (const p of parts) {
      const req = p.req;
      for (let m = p.from; m < p.to; m++, row++) {
        if (req.settled) continue;
        const cands: LinkCandidate[] = new Array(req.k);
        for (let j = 0; j < req.k; j++) {
          const e = indices[row * k + j]!;
          const c: LinkCandidate = { id: this.strings.id(e), name: this.strings.name(e), score: scores[row * k + j]! };
          if (cross) c.crossScore = cross[row * k + j]!;
          cands[j] = c;
        }
        (req.out as LinkCandidate[][])[m] = cands;
      }
      req.open -= p.to - p.from;
      if (req.open === 0) this.settle(req);
    }
  }

  private answerEmbeds(parts: Part[], vectors: Float32Array): void {
    const dim = this.facts.dim;
    let row = 0;
    for (const p of parts) {
      const req = p.req;
      for (let m = p.from; m < p.to; m++, row++) (req.out as Float32Array[])[m] = vectors.slice(row * dim, (row + 1) * dim);
      req.open -= p.to - p.from;
      if (req.open === 0) this.settle(req);
    }
  }

  private fail(e: Error): void {
    if (this.closing && this.failure) return;
    this.failure ??= e;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
    for (const r of this.queue) this.settle(r, e);
    this.queue.length = 0;
    this.queued = 0;
    for (const w of this.waiting.values()) w({ type: 'error', id: 0, error: { name: e.name, message: e.message } });
    this.waiting.clear();
    this.drained?.();
  }
}
