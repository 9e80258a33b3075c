// GAN checkpoints in the original's form: one torch.save file `<out>/epoch_<i>` (no extension)
// holding a dict {generator, discriminator, entity_embedding} of state_dicts under the original
// module names (generator.fc1.weight -> 'generator' / 'fc1.weight'; entity_embedding holds
// cand_encoder.bert_model.… and cand_encoder.additional_linear.…), so the original's
// `torch.load(path)` + three `load_state_dict` calls read it. Our additions live under a fourth
// key, 'biofeg', which the original never reads: 'meta' (a JSON string: sizes, E's BERT config,
// the hash of the bi-encoder the GAN was trained with, epoch, settings) and, for resumable
// checkpoints, 'trainer_state' (JSON string), 'optimizer' (AdamW moments as an OrderedDict of
// tensors) and 'optimizer_steps'. The file is written to a temporary sibling and renamed, so a
// reader sees the previous complete file or the new one. Loading checks the feature size and the
// bi-encoder's weight hash: a GAN only makes sense with the bi-encoder whose mention embeddings
// it learned to imitate.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';

import {
  readTorchSave,
  torchDict,
  writeTorchSave,
  type CheckpointTensor,
  type TorchLoaded,
  type TorchSaveValue,
} from '../checkpoint/index.js';
import { CheckpointError, requireFinite } from '../checkpoint/types.js';
import { bertConfigFromHf, type BertConfig, type BertPrecision } from '../models/bert.js';
import type { BiEncoder, ParamPart } from '../models/biencoder.js';
import { DescriptionEncoder, Gan, GAN_PREFIX, type GanDims } from '../models/gan.js';
import { hfConfigOf } from '../models/init.js';
import type { DeviceName } from '../native.js';
import type { FlatAdamW } from './optimizer.js';

/** The dict keys of the original's checkpoint, in its order. */
export const GAN_STATE_KEYS = ['generator', 'discriminator', 'entity_embedding'] as const;
/** Our extra key (ignored by the original's loader). */
export const GAN_EXTRA_KEY = 'biofeg';
const FORMAT = 'biofeg-gan';

export interface GanMeta {
  format: typeof FORMAT;
  version: 2;
  dims: GanDims;
  encoder: { config: Record<string, unknown>; pooler: boolean; addLinear: boolean; outDim: number };
  biencoder: { hash: string; embedDim: number; hiddenSize: number };
  epoch?: number;
  settings?: Record<string, unknown>;
}

/** sha256 over the bi-encoder's parameter names, shapes and f32 values (independent of where it was loaded from). */
export function biencoderHash(model: BiEncoder): string {
  const h = createHash('sha256');
  for (const p of model.parts()) {
    h.update(`${p.prefix}:${p.layout.map((e) => `${e.name}[${e.shape.join(',')}]@${e.offset}`).join(';')}\n`);
    const flat = p.params.download() as Float32Array;
    h.update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  }
  return `sha256:${h.digest('hex')}`;
}

const PREFIX_OF: Record<(typeof GAN_STATE_KEYS)[number], string> = {
  generator: GAN_PREFIX.generator,
  discriminator: GAN_PREFIX.discriminator,
  entity_embedding: GAN_PREFIX.encoder,
};

/** The three state_dicts: names without the dict key (fc1.weight, cand_encoder.bert_model.…). */
function stateDicts(parts: readonly ParamPart[]): Map<string, Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map(GAN_STATE_KEYS.map((k) => [k as string, new Map<string, { shape: number[]; data: Float32Array }>()]));
  for (const p of parts) {
    const key = GAN_STATE_KEYS.find((k) => p.prefix.startsWith(PREFIX_OF[k]));
    if (!key) throw new Error(`GAN checkpoint: parameter prefix ${p.prefix} belongs to none of ${GAN_STATE_KEYS.join(', ')}`);
    const flat = p.params.download() as Float32Array;
    const sd = out.get(key)!;
    for (const e of p.layout)
      sd.set(p.prefix.slice(PREFIX_OF[key].length) + e.name, {
        shape: [...e.shape],
        data: flat.slice(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)),
      });
  }
  return out;
}

export function ganMeta(
  gan: Gan,
  biencoder: { hash: string; embedDim: number; hiddenSize: number },
  extra: { epoch?: number; settings?: Record<string, unknown> } = {},
): GanMeta {
  const e = gan.encoder;
  return {
    format: FORMAT,
    version: 2,
    dims: { ...gan.dims },
    encoder: { config: hfConfigOf(e.config), pooler: e.bert.config.pooler, addLinear: e.linear !== undefined, outDim: e.outDim },
    biencoder,
    ...extra,
  };
}

export interface GanSaveOptions {
  /** Optimisers to store for --resume (by name: discriminator, generator[, encoder]). */
  optimizers?: Record<string, FlatAdamW>;
  trainerState?: Record<string, unknown>;
}

/** Writes the checkpoint file `file` atomically (temp file + rename). */
export function saveGan(file: string, gan: Gan, meta: GanMeta, o: GanSaveOptions = {}): void {
  const sds = stateDicts(gan.parts());
  const extra: Array<[string, TorchSaveValue]> = [['meta', JSON.stringify(meta)]];
  if (o.trainerState) extra.push(['trainer_state', JSON.stringify(o.trainerState)]);
  if (o.optimizers) {
    const moments: Array<[string, TorchSaveValue]> = [];
    const steps: Array<[string, TorchSaveValue]> = [];
    for (const [name, opt] of Object.entries(o.optimizers)) {
      const st = opt.exportState();
      steps.push([name, st.steps]);
      for (const [k, t] of st.moments) moments.push([`${name}/${k}`, t]);
    }
    extra.push(['optimizer', torchDict(moments, 'OrderedDict')], ['optimizer_steps', torchDict(steps)]);
  }
  writeTorchSave(
    file,
    torchDict([...GAN_STATE_KEYS.map((k) => [k, torchDict(sds.get(k)!, 'OrderedDict')] as const), [GAN_EXTRA_KEY, torchDict(extra)]]),
  );
}

/** A GAN checkpoint file read into memory. */
export interface GanFile {
  path: string;
  meta: GanMeta;
  states: Record<(typeof GAN_STATE_KEYS)[number], Map<string, CheckpointTensor>>;
  trainerState?: Record<string, unknown>;
  optimizer?: { moments: Map<string, CheckpointTensor>; steps: Map<string, number> };
}

function asMap(v: TorchLoaded | undefined): Map<string, TorchLoaded> | undefined {
  return v instanceof Map ? v : undefined;
}

function tensorsOf(path: string, what: string, v: TorchLoaded | undefined): Map<string, CheckpointTensor> {
  const m = asMap(v);
  if (!m) throw new CheckpointError(path, `'${what}' is not a dict of tensors`);
  const out = new Map<string, CheckpointTensor>();
  for (const [k, t] of m) {
    if (t === null || typeof t !== 'object' || t instanceof Map || Array.isArray(t))
      throw new CheckpointError(path, `'${what}' entry ${k} is not a tensor`);
    out.set(k, t);
  }
  return out;
}

function parseJson(path: string, what: string, v: TorchLoaded | undefined): Record<string, unknown> {
  if (typeof v !== 'string') throw new CheckpointError(path, `'${GAN_EXTRA_KEY}.${what}' is missing or not a string`);
  try {
    return JSON.parse(v) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(path, `'${GAN_EXTRA_KEY}.${what}' is not JSON (${(e as Error).message})`);
  }
}

/** Reads a checkpoint file written by saveGan (a folder from an older biofeg is refused with the reason). */
export function readGanFile(path: string): GanFile {
  if (!existsSync(path)) throw new CheckpointError(path, `GAN checkpoint not found`);
  if (statSync(path).isDirectory())
    throw new CheckpointError(
      path,
      `a folder, not a GAN checkpoint file (GAN checkpoints are single torch.save files <out>/epoch_<i>, as in the original; folders from older biofeg versions are not read: run train-gan again)`,
    );
  const root = asMap(readTorchSave(path));
  if (!root) throw new CheckpointError(path, `not a GAN checkpoint (the file holds no dict)`);
  const missing = GAN_STATE_KEYS.filter((k) => !root.has(k));
  if (missing.length) throw new CheckpointError(path, `not a GAN checkpoint (no ${missing.join(', ')} state_dict)`);
  const extra = asMap(root.get(GAN_EXTRA_KEY));
  if (!extra)
    throw new CheckpointError(
      path,
      `no '${GAN_EXTRA_KEY}' entry with the sizes and the bi-encoder it was trained with (a checkpoint of the original code?); biofeg only loads GAN checkpoints written by biofeg train-gan`,
    );
  const m = parseJson(path, 'meta', extra.get('meta')) as Partial<GanMeta>;
  if (m.format !== FORMAT || m.version !== 2 || !m.dims || !m.encoder || !m.biencoder)
    throw new CheckpointError(
      path,
      `not a biofeg GAN checkpoint description (format ${JSON.stringify(m.format)}, version ${JSON.stringify(m.version)})`,
    );
  if (typeof m.biencoder.hash !== 'string' || typeof m.biencoder.hiddenSize !== 'number')
    throw new CheckpointError(path, `'${GAN_EXTRA_KEY}.meta.biencoder' needs a string hash and a numeric hiddenSize`);
  const states = Object.fromEntries(GAN_STATE_KEYS.map((k) => [k, tensorsOf(path, k, root.get(k))])) as GanFile['states'];
  const out: GanFile = { path, meta: m as GanMeta, states };
  if (extra.has('trainer_state')) out.trainerState = parseJson(path, 'trainer_state', extra.get('trainer_state'));
  if (extra.has('optimizer')) {
    const steps = new Map<string, number>();
    for (const [k, v] of asMap(extra.get('optimizer_steps')) ?? []) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw new CheckpointError(path, `'${GAN_EXTRA_KEY}.optimizer_steps.${k}' is not a step count`);
      steps.set(k, v);
    }
    out.optimizer = { moments: tensorsOf(path, `${GAN_EXTRA_KEY}.optimizer`, extra.get('optimizer')), steps };
  }
  return out;
}

export function readGanMeta(path: string): GanMeta {
  return readGanFile(path).meta;
}

export interface GanExpectation {
  /** The bi-encoder this GAN will be used with: its hash and embedding size must match. */
  biencoder?: { hash: string; embedDim: number };
  /** E's compute precision (bf16: CUDA mixed precision). */
  precision?: BertPrecision;
}

/** Rejects a checkpoint made for another feature size or another bi-encoder, with the reason. */
export function checkGanCompatible(path: string, meta: GanMeta, want: GanExpectation): void {
  const b = want.biencoder;
  if (!b) return;
  if (meta.dims.featDim !== b.embedDim)
    throw new CheckpointError(
      path,
      `this GAN generates features of size ${meta.dims.featDim} (bi-encoder hidden size ${meta.biencoder.hiddenSize}), but the given bi-encoder's embeddings have size ${b.embedDim}; use the bi-encoder the GAN was trained with`,
    );
  if (meta.biencoder.hash !== b.hash)
    throw new CheckpointError(
      path,
      `this GAN was trained with bi-encoder ${meta.biencoder.hash.slice(0, 19)}…, the given bi-encoder is ${b.hash.slice(0, 19)}…; features from another bi-encoder would not match its embedding space (pass the same --path_to_model as for train-gan)`,
    );
}

/** Builds the GAN a checkpoint file describes and loads its weights. */
export function loadGan(path: string, device: DeviceName, want: GanExpectation = {}): { gan: Gan; meta: GanMeta; file: GanFile } {
  const file = readGanFile(path);
  const meta = file.meta;
  checkGanCompatible(path, meta, want);
  const config: BertConfig = bertConfigFromHf(meta.encoder.config, { pooler: meta.encoder.pooler });
  const enc = new DescriptionEncoder(config, device, meta.encoder.addLinear ? meta.encoder.outDim : undefined, want.precision);
  const gan = new Gan(enc, meta.dims.featDim, device);
  for (const k of ['condDim', 'noiseDim', 'hiddenDim'] as const)
    if (gan.dims[k] !== meta.dims[k])
      throw new CheckpointError(path, `${k} ${meta.dims[k]} does not follow from the sizes (expected ${gan.dims[k]})`);
  loadGanWeights(gan, file);
  return { gan, meta, file };
}

/** Copies the three state_dicts of `file` into `gan`; every parameter must be there with its shape. */
export function loadGanWeights(gan: Gan, file: GanFile): void {
  for (const p of gan.parts()) {
    const key = GAN_STATE_KEYS.find((k) => p.prefix.startsWith(PREFIX_OF[k]))!;
    const sd = file.states[key];
    const flat = new Float32Array(p.params.shape[0]!);
    for (const e of p.layout) {
      const name = p.prefix.slice(PREFIX_OF[key].length) + e.name;
      const t = sd.get(name);
      if (!t) throw new CheckpointError(file.path, `'${key}' has no ${name}`);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
        throw new CheckpointError(file.path, `${key}.${name} has shape [${t.shape.join(', ')}], the model expects [${e.shape.join(', ')}]`);
      if (!(t.data instanceof Float32Array)) throw new CheckpointError(file.path, `${key}.${name} is not an f32 tensor`);
      requireFinite(file.path, `${key}.${name}`, t.data);
      flat.set(t.data, e.offset);
    }
    p.params.upload(flat);
  }
}

/** Restores the optimiser moments saved by saveGan and returns the trainer state. */
export function loadGanTrainingState(file: GanFile, optimizers: Record<string, FlatAdamW>): Record<string, unknown> {
  if (!file.optimizer || !file.trainerState) throw new CheckpointError(file.path, `not a resumable GAN checkpoint (no optimizer state)`);
  for (const [name, opt] of Object.entries(optimizers)) {
    const steps = file.optimizer.steps.get(name);
    if (steps === undefined)
      throw new CheckpointError(file.path, `no optimizer steps for '${name}' (was it trained with another --cond-grad?)`);
    const moments = new Map<string, { data: Float32Array | Int32Array }>();
    for (const [k, t] of file.optimizer.moments)
      if (k.startsWith(`${name}/`)) moments.set(k.slice(name.length + 1), { data: t.data as Float32Array });
    opt.importState({ steps, moments });
  }
  return file.trainerState;
}
