// A small LinkService for the server's tests where a real model is not the point: answers are a
// pure function of the input, requests can be held at a gate, and it rejects like the Linker does
// (OverloadedError past its limit, AbortError when a queued call's signal fires).
import { AbortError, OverloadedError } from '../../src/errors.js';
import type { LinkCandidate, LinkerBatch, LinkerInfo, LinkerStats, LinkMention, LinkOptions } from '../../src/link/types.js';
import type { LinkService } from '../../src/serve/index.js';

export const FAKE_INFO: LinkerInfo = {
  model: 'fake-model',
  modelHash: 'f'.repeat(16),
  entities: 1000,
  dim: 4,
  dtype: 'f32',
  device: 'cpu',
  maxContextLength: 32,
  maxCandLength: 32,
};

const textOf = (m: LinkMention): string => (typeof m === 'string' ? m : m.text);

/** Candidate j of a mention: an id that names the mention, scores strictly decreasing. */
export function fakeCandidates(m: LinkMention, topK: number): LinkCandidate[] {
  const t = textOf(m);
  return Array.from({ length: topK }, (_, j) => ({ id: `${t}#${j}`, name: `${t} ${j}`, score: 10 - j / 4 }));
}

export class FakeLinker implements LinkService {
  /** Every link call as received. */
  readonly calls: Array<{ mentions: LinkMention[]; topK: number | undefined; signal: AbortSignal | undefined }> = [];
  /** Mentions accepted and not yet answered. */
  pending = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** The error the next calls reject with (after the gate), when set. */
  failWith: Error | undefined;

  constructor(private readonly maxConcurrent = Number.POSITIVE_INFINITY) {}

  /** Holds every call until release(). */
  hold(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  private async admit<T>(n: number, signal: AbortSignal | undefined, answer: () => T): Promise<T> {
    if (this.pending + n > this.maxConcurrent)
      throw new OverloadedError(
        `overloaded: ${this.pending} mentions queued or in flight (limit ${this.maxConcurrent})`,
        this.maxConcurrent,
      );
    this.pending += n;
    try {
      if (this.gate) {
        const gate = this.gate;
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(new AbortError('aborted while queued'));
          if (signal?.aborted) return onAbort();
          signal?.addEventListener('abort', onAbort, { once: true });
          void gate.then(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
        });
      }
      if (this.failWith) throw this.failWith;
      return answer();
    } finally {
      this.pending -= n;
    }
  }

  link(mentions: LinkMention[], o: LinkOptions = {}): Promise<LinkCandidate[][]> {
    this.calls.push({ mentions, topK: o.topK, signal: o.signal });
    return this.admit(mentions.length, o.signal, () => mentions.map((m) => fakeCandidates(m, o.topK ?? 8)));
  }

  embed(texts: string[], o: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    return this.admit(texts.length, o.signal, () => texts.map((t) => Float32Array.from([t.length, 0.5, -0.25, 1])));
  }

  info(): LinkerInfo {
    return FAKE_INFO;
  }

  stats(): LinkerStats {
    return { queued: this.pending, inFlight: 0, batches: 7, lastBatchMentions: 5, lastBatchTokens: 160 };
  }

  /** Subscribers of onBatch; `batch()` reports one to them as the Linker does after an answer. */
  readonly batchListeners = new Set<(b: LinkerBatch) => void>();
  onBatch(listener: (b: LinkerBatch) => void): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }
  batch(b: LinkerBatch): void {
    for (const l of this.batchListeners) l(b);
  }
}
