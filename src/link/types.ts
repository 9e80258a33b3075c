// The Linker's public types: the contract `biofeg serve` and library users code against.

/**
 * One mention to link: the mention text alone, or with the text around it. Context is encoded
 * with the original's mention markers exactly as training does (only a window around the mention
 * is tokenized, so a long `left`/`right` costs no more than a short one).
 */
export type LinkMention = string | { text: string; left?: string; right?: string };

/** One candidate entity for a mention, best first in `Linker.link`'s result. */
export interface LinkCandidate {
  /** The entity's id in the index (the KB's `id`, or the arboEL document id). */
  id: string;
  /** The entity's name in the index. */
  name: string;
  /** The bi-encoder score: mention vector · entity vector (also when reranked). */
  score: number;
  /**
   * With `rerank: true`: the cross-encoder's score of the (mention, entity) pair, by which the
   * candidates are then ordered. Absent otherwise.
   */
  crossScore?: number;
}

/** How `Linker.load` runs the model. */
export interface LinkerOptions {
  /** `auto` (default): CUDA when present, else the CPU. */
  device?: 'auto' | 'cpu' | 'cuda';
  /** The encoder's precision; default `f32`. */
  precision?: 'f32' | 'bf16';
  /** CPU threads for the engine (default: the engine's choice). */
  threads?: number;
  /** Coalesced requests are cut into encoder batches of at most this many tokens (padded). Default 16384. */
  maxBatchTokens?: number;
  /**
   * How long the first queued mention waits for others to join its batch, counted from its call
   * (time queued behind a running batch included). Default 2 ms. A call that finds the Linker idle
   * after a batch of a single call does not wait: at concurrency 1 the wait is pure latency.
   */
  maxWaitMs?: number;
  /** Queued plus in-flight mentions beyond this reject at once with `OverloadedError`. Default 512. */
  maxConcurrentRequests?: number;
  /**
   * Mention window in tokens. Default: the checkpoint's recorded `max_context_length` (128 when it
   * records none); another value is used with a warning, as the model was trained on its own.
   */
  maxContextLength?: number;
  /**
   * A cross-encoder checkpoint folder (`train-crossencoder`'s output) to rerank with: its pair
   * windows are read from its config.json; its vocabulary must be the bi-encoder's. Needs an index
   * that keeps entity texts (built by this biofeg).
   */
  crossencoder?: string;
}

/** Options of one `Linker.link` call. */
export interface LinkOptions {
  /** Candidates per mention (default 8; at most the index size). */
  topK?: number;
  /**
   * Rerank each mention's `topK` candidates with the loaded cross-encoder (`Linker.load`'s
   * `crossencoder`): they come ordered by `crossScore`, ties in the bi-encoder's order. Without a
   * loaded cross-encoder the call is refused (SettingsError). Default false.
   */
  rerank?: boolean;
  /** Cancels the request while it is queued (an `AbortError`). */
  signal?: AbortSignal;
}

/** What a loaded `Linker` serves. */
export interface LinkerInfo {
  /** The model folder it was loaded from. */
  model: string;
  /** The model's hash (the index records the same one). */
  modelHash: string;
  /** Entities in the index. */
  entities: number;
  /** Vector width. */
  dim: number;
  /** The index's element type. */
  dtype: 'f32' | 'bf16';
  /** Where the encoder runs (`cpu` or `cuda`). */
  device: string;
  /** Mention window length in tokens (the checkpoint's recorded `max_context_length`). */
  maxContextLength: number;
  /** Entity text length in tokens (the checkpoint's recorded `max_cand_length`). */
  maxCandLength: number;
  /** The cross-encoder folder `rerank` uses; absent when none is loaded. */
  crossencoder?: string;
}

/** Counters for `/metrics`: a snapshot, cheap to read. */
export interface LinkerStats {
  /** Mentions waiting for a batch. */
  queued: number;
  /** Mentions in the batch being encoded and searched. */
  inFlight: number;
  /** Encoder batches run since load. */
  batches: number;
  /** Mentions in the last batch. */
  lastBatchMentions: number;
  /** Tokens (padded) in the last batch. */
  lastBatchTokens: number;
}

/** One encoder batch the Linker answered (`Linker.onBatch`, for `/metrics`). */
export interface LinkerBatch {
  kind: 'link' | 'embed';
  /** Mentions (or texts) in the batch: coalesced from one or more calls. */
  mentions: number;
  /** Tokens (padded) its encoder forwards ran on. */
  tokens: number;
  /** From sending the batch to the worker to its answer (tokenize, encode, search). */
  seconds: number;
}
