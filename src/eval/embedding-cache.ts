// The disk cache of entity encodings: `<folder>/entity_embeddings.<hash>.f32`, one file per
// evaluated model (entity-pool.ts writes and reads them). Every new model adds a file the size of
// its pool, so a folder that evaluates many checkpoints grows without bound; this module keeps it
// within a size cap (least recently used evicted first, the file in use always kept) and removes
// it on request. Only files named like cache files are touched, and temporaries only when their
// writer is gone.
import { readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

import { removeStaleTemps } from '../data/atomic.js';
import { InputError, SettingsError } from '../errors.js';

/** Default cap of one folder's cache, in MiB (`embeddingCacheMb`): a few pools of a large dictionary. */
export const DEFAULT_EMBEDDING_CACHE_MB = 4096;

const CACHE_NAME = /^entity_embeddings\.[0-9a-f]{16}\.f32$/;

export interface EmbeddingCacheEntry {
  path: string;
  bytes: number;
  /** Last use: the file's mtime, renewed each time an evaluation reads it. */
  usedMs: number;
}

/** The cache files of `dir`, least recently used first (none when `dir` does not exist). */
export function listEmbeddingCache(dir: string): EmbeddingCacheEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: EmbeddingCacheEntry[] = [];
  for (const n of names) {
    if (!CACHE_NAME.test(n)) continue;
    const path = join(dir, n);
    try {
      const st = statSync(path);
      if (st.isFile()) out.push({ path, bytes: st.size, usedMs: st.mtimeMs });
    } catch {
      /* removed meanwhile */
    }
  }
  return out.sort((a, b) => a.usedMs - b.usedMs || (a.path < b.path ? -1 : 1));
}

/** Marks a cache file as just used, so eviction takes it last. */
export function touchEmbeddingCache(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    /* gone: nothing to keep */
  }
}

export interface PruneResult {
  removed: EmbeddingCacheEntry[];
  /** Bytes of the cache files left. */
  keptBytes: number;
}

function removeEntries(dir: string, victims: EmbeddingCacheEntry[], all: EmbeddingCacheEntry[]): PruneResult {
  const removed: EmbeddingCacheEntry[] = [];
  for (const e of victims) {
    rmSync(e.path, { force: true });
    removed.push(e);
  }
  // A writer killed while encoding leaves `.entity_embeddings.<hash>.f32.tmp-<pid>-...`.
  for (const n of safeList(dir)) {
    const m = /^\.(entity_embeddings\.[0-9a-f]{16}\.f32)\.tmp-/.exec(n);
    if (m) removeStaleTemps(join(dir, m[1]!));
  }
  const gone = new Set(removed.map((e) => e.path));
  return { removed, keptBytes: all.filter((e) => !gone.has(e.path)).reduce((s, e) => s + e.bytes, 0) };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Evicts cache files of `dir`, least recently used first, until the rest fit in `maxBytes`; the
 * files in `keep` (the pool an evaluation is using) stay whatever their size.
 */
export function pruneEmbeddingCache(dir: string, o: { maxBytes: number; keep?: readonly string[] }): PruneResult {
  if (!(o.maxBytes >= 0)) throw new SettingsError('maxBytes', `embedding cache: maxBytes must be >= 0, got ${o.maxBytes}`);
  const all = listEmbeddingCache(dir);
  const keep = new Set(o.keep ?? []);
  let total = all.reduce((s, e) => s + e.bytes, 0);
  const victims: EmbeddingCacheEntry[] = [];
  for (const e of all) {
    if (total <= o.maxBytes) break;
    if (keep.has(e.path)) continue;
    victims.push(e);
    total -= e.bytes;
  }
  return removeEntries(dir, victims, all);
}

/**
 * `biofeg cache clean`: removes the cache files of the folder `dir` (an evaluation's output
 * folder) and dead writers' temporaries of them; with `maxBytes`, only the least recently used
 * until the rest fit. Files in `keep` stay. An InputError when `dir` is not a folder.
 */
export function cleanEmbeddingCache(dir: string, o: { maxBytes?: number; keep?: readonly string[] } = {}): PruneResult {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    /* missing: reported below */
  }
  if (!isDir) throw new InputError(dir, undefined, 'not a folder (expected the output folder of an evaluation)');
  return pruneEmbeddingCache(dir, { maxBytes: o.maxBytes ?? 0, ...(o.keep ? { keep: o.keep } : {}) });
}
