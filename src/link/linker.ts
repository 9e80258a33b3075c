// Linker: a bi-encoder and an entity index loaded once, linking mentions from a Node service.
import { BiofegError } from '../errors.js';
import type { LinkCandidate, LinkerInfo, LinkerOptions, LinkerStats, LinkMention, LinkOptions } from './types.js';

/**
 * A bi-encoder and an entity index, loaded once; links mention strings to entities.
 *
 * Model and index work run in a worker thread; concurrent {@link Linker.link} calls are coalesced
 * into one encoder batch.
 */
export class Linker {
  private constructor() {}

  /** Loads a bi-encoder checkpoint folder (biofeg's or the original's `pytorch_model.bin`) and an entity index. */
  static async load(_modelDir: string, _indexDir: string, _o: LinkerOptions = {}): Promise<Linker> {
    throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker is not built yet');
  }

  /** Links each mention; per mention its `topK` candidates, best first, in mention order. */
  async link(_mentions: LinkMention[], _o: LinkOptions = {}): Promise<LinkCandidate[][]> {
    throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker is not built yet');
  }

  /** The mention-side vectors of plain texts (no context). */
  async embed(_texts: string[], _o: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker is not built yet');
  }

  /** What is loaded. */
  info(): LinkerInfo {
    throw new BiofegError('ERR_BIOFEG_INTERNAL', 'Linker is not built yet');
  }

  /** Queue and batch counters (for `/metrics`). */
  stats(): LinkerStats {
    return { queued: 0, inFlight: 0, batches: 0, lastBatchMentions: 0, lastBatchTokens: 0 };
  }

  /** Refuses new calls, lets in-flight ones finish, and stops the worker. */
  async close(): Promise<void> {}
}
