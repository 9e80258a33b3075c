// The HTTP service's contract: what it needs from a Linker, its options, and the handle it returns.
import type { LinkCandidate, LinkerBatch, LinkerInfo, LinkerStats, LinkMention, LinkOptions } from '../link/types.js';

/**
 * The part of a `Linker` the server calls. A loaded `Linker` is one; tests and other hosts may pass
 * anything that keeps the same promises (order of results, typed errors, AbortSignal honoured).
 */
export interface LinkService {
  link(mentions: LinkMention[], o?: LinkOptions): Promise<LinkCandidate[][]>;
  embed(texts: string[], o?: { signal?: AbortSignal }): Promise<Float32Array[]>;
  info(): LinkerInfo;
  stats(): LinkerStats;
  /** Encoder batches as they are answered (the batch-size histograms of `/metrics`); optional. */
  onBatch?(listener: (b: LinkerBatch) => void): () => void;
}

/** How `createServer` listens and what it accepts. Every limit answers 400 (413 for the body) when passed. */
export interface ServeOptions {
  /** Interface to bind; default `127.0.0.1` (loopback only: pass `0.0.0.0` to expose it on purpose). */
  host?: string;
  /** TCP port; default 8080; 0 picks a free one (`listen()` says which). */
  port?: number;
  /** Largest request body in bytes; default 1 MiB (a bigger one gets 413). */
  bodyLimit?: number;
  /** Most mentions in one `POST /link`; default 256. */
  maxMentions?: number;
  /** Most texts in one `POST /embed`; default 256. */
  maxTexts?: number;
  /** Longest mention text (and `/embed` text), in characters; default 1024. */
  maxTextLength?: number;
  /** Longest `left` or `right` context, in characters; default 20000 (only a window around the mention is encoded). */
  maxContextChars?: number;
  /** `top_k` when a request gives none; default 8. */
  defaultTopK?: number;
  /** Largest `top_k` a request may ask for; default 100. */
  maxTopK?: number;
  /** How long `close()` waits for in-flight requests before closing their connections; default 30000 ms. */
  drainTimeoutMs?: number;
  /** Lifecycle lines (listening, ready, draining, unexpected errors); default none. */
  log?: (line: string) => void;
}

/** Where a server listens. */
export interface ServerAddress {
  host: string;
  port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
}

/** A created server: not listening until `listen()`. */
export interface LinkServer {
  /** Starts accepting connections (before the Linker is ready: `/health` says 503 until it is). */
  listen(): Promise<ServerAddress>;
  /**
   * Stops accepting connections, lets in-flight requests finish (at most `drainTimeoutMs`), then
   * resolves. The Linker is left open: its owner closes it.
   */
  close(): Promise<void>;
  /** Resolves once the Linker is loaded; rejects with the load's error. */
  readonly ready: Promise<void>;
  /** Requests being answered now. */
  inFlight(): number;
}
