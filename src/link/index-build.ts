// Building and updating an entity index (the worker side of buildIndex and EntityIndex.add/remove):
// each entity's candidate text through the candidate encoder, as the evaluation's entity pool
// encodes all_documents.json, written as a new generation of the index folder (index-file.ts).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { count, type TaskContext } from '../api/events.js';
import { candidateRepresentation } from '../data/blink-inputs.js';
import { AbortError, CheckpointRejectedError, InputError, SettingsError } from '../errors.js';
import { trimmedBatch } from '../eval/token-batch.js';
import type { DeviceChoice, Precision } from '../settings/types.js';
import { chooseDevice, precisionOf } from '../stages/setup.js';
import { type EntityText, entityText, type KbEntity, readKb } from './kb.js';
import { type IndexManifest, readManifest, readVectorRows, StringTable, vectorBytes, writeGeneration } from './index-file.js';
import { type LinkModel, openLinkModel } from './model.js';
import { withOutputLock } from '../stages/output-lock.js';
import { join } from 'node:path';
import { poolValueBytes } from '../eval/entity-pool.js';

/** Settings of {@link buildIndex} (`biofeg index`). */
export interface BuildIndexSettings {
  /** A bi-encoder checkpoint folder (biofeg's, or the original's pytorch_model.bin folder). */
  model: string;
  /** JSONL `{ id, name, synonyms?, description?, type? }` lines, or the arboEL all_documents.json. */
  kb: string;
  /** The index folder (created; an index already there is replaced by a new generation). */
  out: string;
  /** Vector element type on disk and in memory; bf16 halves both. Default f32. */
  dtype?: 'f32' | 'bf16';
  /** Default `auto`. */
  device?: DeviceChoice;
  threads?: number;
  /** Encoder precision (bf16: CUDA). Default f32. */
  precision?: Precision;
  /** Entities per encoder forward. Default 64. */
  batchSize?: number;
}

export interface BuildIndexResult {
  out: string;
  count: number;
  dim: number;
  dtype: 'f32' | 'bf16';
  modelHash: string;
  seconds: number;
}

/** What EntityIndex.add / remove send to the worker. */
export interface UpdateIndexSettings {
  index: string;
  /** The model to encode added entities with; default the one the index was built from. */
  model?: string;
  add?: KbEntity[];
  remove?: string[];
  device?: DeviceChoice;
  threads?: number;
  precision?: Precision;
  batchSize?: number;
}

export interface UpdateIndexResult {
  count: number;
  added: number;
  removed: number;
  generation: number;
}

const DEFAULT_BATCH = 64;

function str(v: unknown, field: string, what: string): string {
  if (typeof v !== 'string' || v === '') throw new SettingsError(field, `${what}: ${field} must be a non-empty string, got ${typeof v}`);
  return v;
}

function batchSizeOf(v: unknown, what: string): number {
  if (v === undefined) return DEFAULT_BATCH;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new SettingsError('batchSize', `${what}: batchSize must be an integer >= 1, got ${String(v)}`);
  return v;
}

/** Checks the settings that cost nothing to check, on the caller's thread. */
export function checkBuildIndexSettings(s: BuildIndexSettings): void {
  if (typeof s !== 'object' || s === null) throw new SettingsError('(settings)', 'buildIndex: expected { model, kb, out, ... }');
  const known = ['model', 'kb', 'out', 'dtype', 'device', 'threads', 'precision', 'batchSize'];
  for (const k of Object.keys(s))
    if (!known.includes(k)) throw new SettingsError(k, `buildIndex: unknown setting "${k}" (expected ${known.join(', ')})`);
  str(s.model, 'model', 'buildIndex');
  str(s.kb, 'kb', 'buildIndex');
  str(s.out, 'out', 'buildIndex');
  if (s.dtype !== undefined && s.dtype !== 'f32' && s.dtype !== 'bf16')
    throw new SettingsError('dtype', `buildIndex: dtype must be f32 or bf16, got ${String(s.dtype)}`);
  if (s.device !== undefined && !['auto', 'cpu', 'cuda'].includes(s.device))
    throw new SettingsError('device', `buildIndex: device must be auto, cpu or cuda, got ${String(s.device)}`);
  if (s.precision !== undefined && s.precision !== 'f32' && s.precision !== 'bf16')
    throw new SettingsError('precision', `buildIndex: precision must be f32 or bf16`);
  if (s.threads !== undefined && (typeof s.threads !== 'number' || !Number.isInteger(s.threads) || s.threads < 0))
    throw new SettingsError('threads', `buildIndex: threads must be an integer >= 0, got ${String(s.threads)}`);
  batchSizeOf(s.batchSize, 'buildIndex');
  if (!existsSync(s.kb)) throw new SettingsError('kb', `buildIndex: kb ${s.kb}: not found`);
  if (existsSync(s.out) && !statSync(s.out).isDirectory())
    throw new SettingsError('out', `buildIndex: out ${s.out}: is a file, expected a folder`);
  if (!existsSync(s.model) || !statSync(s.model).isDirectory())
    throw new SettingsError('model', `buildIndex: model ${s.model}: no such checkpoint folder`);
}

function openModelFor(s: { model: string; device?: DeviceChoice; threads?: number; precision?: Precision }): LinkModel {
  const device = chooseDevice({ device: s.device ?? 'auto', threads: s.threads });
  return openLinkModel(s.model, device, precisionOf(s.precision ?? 'f32', device));
}

/** Encodes `entities` in batches through the candidate side; each batch's vector bytes go to `sink`. */
async function encodeEntities(
  lm: LinkModel,
  entities: readonly EntityText[],
  batchSize: number,
  dtype: 'f32' | 'bf16',
  ctx: TaskContext,
  sink: (bytes: Uint8Array) => void,
  label: string,
): Promise<void> {
  const len = lm.inference.maxCandLength;
  if (len > lm.model.config.maxPositions)
    throw new CheckpointRejectedError(
      lm.dir,
      `${lm.dir}: max_cand_length ${len} exceeds the model's ${lm.model.config.maxPositions} positions`,
    );
  const rows = new Int32Array(batchSize * len);
  for (let start = 0; start < entities.length; start += batchSize) {
    if (ctx.stop.requested) throw new AbortError(`${label}: aborted`);
    const n = Math.min(batchSize, entities.length - start);
    for (let i = 0; i < n; i++) {
      const e = entities[start + i]!;
      rows.set(candidateRepresentation(lm.tokenizer, e.text, len, e.name).ids, i * len);
    }
    const emb = await lm.model.encode('candidate', trimmedBatch(rows, n, len, len), false);
    sink(vectorBytes(emb.download() as Float32Array, dtype));
    count(ctx, label, start + n, entities.length, 'entities');
  }
}

export async function runBuildIndex(s: BuildIndexSettings, ctx: TaskContext): Promise<BuildIndexResult> {
  checkBuildIndexSettings(s);
  const t0 = performance.now();
  const dtype = s.dtype ?? 'f32';
  const entities = await readKb(s.kb);
  const lm = openModelFor(s);
  mkdirSync(s.out, { recursive: true });
  // One writer per index folder (a second build or update is refused, naming the holder).
  return withOutputLock(s.out, 'index', () => buildLocked(s, lm, entities, dtype, ctx, t0));
}

async function buildLocked(
  s: BuildIndexSettings,
  lm: LinkModel,
  entities: EntityText[],
  dtype: 'f32' | 'bf16',
  ctx: TaskContext,
  t0: number,
): Promise<BuildIndexResult> {
  let generation = 1;
  try {
    generation = readManifest(s.out).generation + 1;
  } catch {
    // No index there yet (or an unreadable one, which the new generation replaces).
  }
  const dim = lm.model.embedDim;
  const m = await writeGeneration(
    s.out,
    {
      generation,
      count: entities.length,
      dim,
      dtype,
      modelHash: lm.hash,
      maxCandLength: lm.inference.maxCandLength,
      model: resolve(s.model),
    },
    entities.map((e) => e.id),
    entities.map((e) => e.name),
    (w) => encodeEntities(lm, entities, batchSizeOf(s.batchSize, 'buildIndex'), dtype, ctx, (b) => w.rows(b), 'encode entities'),
    entities.map((e) => e.text),
  );
  return { out: s.out, count: m.count, dim, dtype, modelHash: m.modelHash, seconds: (performance.now() - t0) / 1000 };
}

export async function runUpdateIndex(s: UpdateIndexSettings, ctx: TaskContext): Promise<UpdateIndexResult> {
  readManifest(s.index); // an index is there: the lock must not create a folder
  return withOutputLock(s.index, 'index update', () => updateLocked(s, ctx));
}

async function updateLocked(s: UpdateIndexSettings, ctx: TaskContext): Promise<UpdateIndexResult> {
  const old: IndexManifest = readManifest(s.index);
  const strings = StringTable.read(join(s.index, old.entities));
  // An index built before texts were kept stays without them (a rebuild adds them).
  const oldTexts = old.texts !== undefined ? StringTable.read(join(s.index, old.texts)) : undefined;
  // Row i of each table is row i of the vectors: a table of another length would pair rows wrongly.
  if (strings.count !== old.count)
    throw new CheckpointRejectedError(s.index, `${join(s.index, old.entities)}: ${strings.count} entities, the manifest says ${old.count}`);
  if (oldTexts && oldTexts.count !== strings.count)
    throw new CheckpointRejectedError(
      s.index,
      `${join(s.index, old.texts!)}: ${oldTexts.count} texts for the ${strings.count} entities of ${old.entities}`,
    );
  const byId = strings.ids();
  const removeSet = new Set<string>();
  for (const [i, id] of (s.remove ?? []).entries()) {
    if (typeof id !== 'string') throw new InputError('(remove)', i + 1, `expected an id string, got ${typeof id}`);
    if (!byId.has(id)) throw new InputError('(remove)', i + 1, `id "${id}" is not in the index`);
    removeSet.add(id);
  }
  const added = (s.add ?? []).map((e, i) => entityText(e, '(entities)', i + 1));
  const newIds = new Map<string, number>();
  for (const [i, e] of added.entries()) {
    if ((byId.has(e.id) && !removeSet.has(e.id)) || newIds.has(e.id))
      throw new InputError('(entities)', i + 1, `id "${e.id}" is already in the index (remove it first to replace it)`);
    newIds.set(e.id, i);
  }
  const kept: number[] = [];
  for (let i = 0; i < strings.count; i++) if (!removeSet.has(strings.id(i))) kept.push(i);
  const lm = added.length > 0 ? openModelFor({ ...s, model: s.model ?? old.model }) : undefined;
  if (lm && lm.hash !== old.modelHash)
    throw new CheckpointRejectedError(
      s.model ?? old.model,
      `${s.model ?? old.model}: this model is not the one the index ${s.index} was built with (model hash ${lm.hash.slice(0, 16)}, the index's ${old.modelHash.slice(0, 16)})`,
    );
  const vpath = join(s.index, old.vectors);
  const rowBytes = old.dim * poolValueBytes(old.dtype);
  const m = await writeGeneration(
    s.index,
    { ...old, generation: old.generation + 1, count: kept.length + added.length },
    [...kept.map((i) => strings.id(i)), ...added.map((e) => e.id)],
    [...kept.map((i) => strings.name(i)), ...added.map((e) => e.name)],
    async (w) => {
      // Kept rows are copied as bytes in contiguous runs of at most 4096 rows (no re-encoding).
      for (let a = 0; a < kept.length; ) {
        let b = a + 1;
        while (b < kept.length && kept[b] === kept[b - 1]! + 1 && b - a < Math.max(1, Math.floor((16 << 20) / rowBytes))) b++;
        w.rows(readVectorRows(vpath, old.dim, old.dtype, kept[a]!, b - a));
        a = b;
      }
      if (lm) await encodeEntities(lm, added, batchSizeOf(s.batchSize, 'index.add'), old.dtype, ctx, (b) => w.rows(b), 'encode entities');
    },
    oldTexts ? [...kept.map((i) => oldTexts.name(i)), ...added.map((e) => e.text)] : undefined,
  );
  return { count: m.count, added: added.length, removed: removeSet.size, generation: m.generation };
}
