// The entity index in the public API: buildIndex (a long call in a worker thread), and an opened
// index's incremental add/remove (each a long call too: the model is opened in the worker).
import { join } from 'node:path';

import type { CallOptions } from '../api/events.js';
import { runTask } from '../api/worker-host.js';
import { SettingsError } from '../errors.js';
import type { DeviceChoice, Precision } from '../settings/types.js';
import { type BuildIndexResult, type BuildIndexSettings, checkBuildIndexSettings, type UpdateIndexResult } from './index-build.js';
import { type IndexManifest, readManifest, StringTable } from './index-file.js';
import type { KbEntity } from './kb.js';

/**
 * Encodes a KB through a bi-encoder's candidate encoder into an entity index folder (`biofeg
 * index`). Runs in a worker thread; `signal` stops it between batches (nothing is written), and
 * `onProgress` receives `encode entities` counts. `signal` and `onProgress` may also be given in
 * `settings`.
 */
export function buildIndex(settings: BuildIndexSettings & CallOptions, options: CallOptions = {}): Promise<BuildIndexResult> {
  const { signal, onProgress, ...s } = settings ?? ({} as BuildIndexSettings & CallOptions);
  try {
    checkBuildIndexSettings(s);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  const o: CallOptions = { ...options };
  if (signal !== undefined) o.signal ??= signal;
  if (onProgress !== undefined) o.onProgress ??= onProgress;
  return runTask('buildIndex', s, o);
}

/** How {@link EntityIndex.add} encodes. */
export interface IndexUpdateOptions extends CallOptions {
  /** The model folder; default the one the index was built from (its hash must match either way). */
  model?: string;
  device?: DeviceChoice;
  threads?: number;
  precision?: Precision;
  batchSize?: number;
}

/** What an index holds (index.json). */
export interface EntityIndexInfo {
  dir: string;
  count: number;
  dim: number;
  dtype: 'f32' | 'bf16';
  modelHash: string;
  maxCandLength: number;
  /** The model folder it was built from. */
  model: string;
  generation: number;
}

function infoOf(dir: string, m: IndexManifest): EntityIndexInfo {
  return {
    dir,
    count: m.count,
    dim: m.dim,
    dtype: m.dtype,
    modelHash: m.modelHash,
    maxCandLength: m.maxCandLength,
    model: m.model,
    generation: m.generation,
  };
}

/**
 * An entity index folder. `add` encodes only the new entities; `remove` encodes nothing; each
 * writes a new generation and switches to it atomically (a crash leaves the previous index). A
 * loaded Linker keeps serving what it loaded.
 */
export class EntityIndex {
  private constructor(
    readonly dir: string,
    private m: IndexManifest,
  ) {}

  /** Reads `dir/index.json` (a missing or damaged index is a CheckpointRejectedError). */
  static async open(dir: string): Promise<EntityIndex> {
    return new EntityIndex(dir, readManifest(dir));
  }

  info(): EntityIndexInfo {
    return infoOf(this.dir, this.m);
  }

  /** The ids in row order (reads the string table). */
  ids(): string[] {
    const t = StringTable.read(join(this.dir, this.m.entities));
    return Array.from({ length: t.count }, (_, i) => t.id(i));
  }

  /** Adds entities (ids must be new); resolves once the new generation is in place. */
  async add(entities: KbEntity[], options: IndexUpdateOptions = {}): Promise<UpdateIndexResult> {
    if (!Array.isArray(entities)) throw new SettingsError('entities', 'index.add: expected an array of { id, name, ... }');
    return this.update({ add: entities }, options);
  }

  /** Removes entities by id (each must be in the index). */
  async remove(ids: string[], options: CallOptions = {}): Promise<UpdateIndexResult> {
    if (!Array.isArray(ids)) throw new SettingsError('ids', 'index.remove: expected an array of ids');
    return this.update({ remove: ids }, options);
  }

  private async update(change: { add?: KbEntity[]; remove?: string[] }, o: IndexUpdateOptions): Promise<UpdateIndexResult> {
    const { signal, onProgress, ...enc } = o;
    const r = await runTask(
      'updateIndex',
      { index: this.dir, ...enc, ...change },
      { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) },
    );
    this.m = readManifest(this.dir);
    return r;
  }
}

/** Opens an entity index folder. */
export function openIndex(dir: string): Promise<EntityIndex> {
  return EntityIndex.open(dir);
}
