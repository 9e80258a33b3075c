// GAN checkpoints. The original saves one torch file `<out>/epoch_<i>` holding
// {generator, discriminator, entity_embedding} state_dicts; ours is a folder `<out>/epoch_<i>/`
// (written atomically) with gan.safetensors under the same names prefixed by the dict key
// (generator.fc1.weight, discriminator.fc2.bias, entity_embedding.cand_encoder.bert_model.…),
// gan.json (sizes, E's BERT config, and the bi-encoder the GAN was trained with), and for
// resumable checkpoints optimizer.safetensors + trainer_state.json. Loading checks the feature
// size and the bi-encoder's weight hash: a GAN only makes sense with the bi-encoder whose
// mention embeddings it learned to imitate.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { encodeSafetensors, readSafetensors, writeSafetensors } from '../checkpoint/index.js';
import { bertConfigFromHf, type BertConfig } from '../models/bert.js';
import type { BiEncoder, ParamPart } from '../models/biencoder.js';
import { DescriptionEncoder, Gan, type GanDims } from '../models/gan.js';
import { hfConfigOf } from '../models/init.js';
import type { DeviceName } from '../native.js';
import { writeCheckpointDir } from './checkpoint-dir.js';
import type { FlatAdamW } from './optimizer.js';

export const GAN_WEIGHTS = 'gan.safetensors';
export const GAN_META = 'gan.json';
const FORMAT = 'biofeg-gan';

export interface GanMeta {
  format: typeof FORMAT;
  version: 1;
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

function named(parts: readonly ParamPart[]): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of parts) {
    const flat = p.params.download() as Float32Array;
    for (const e of p.layout) out.set(p.prefix + e.name, { shape: [...e.shape], data: flat.slice(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)) });
  }
  return out;
}

export function ganMeta(gan: Gan, biencoder: { hash: string; embedDim: number; hiddenSize: number }, extra: { epoch?: number; settings?: Record<string, unknown> } = {}): GanMeta {
  const e = gan.encoder;
  return {
    format: FORMAT, version: 1, dims: { ...gan.dims },
    encoder: { config: hfConfigOf(e.config), pooler: e.bert.config.pooler, addLinear: e.linear !== undefined, outDim: e.outDim },
    biencoder, ...extra,
  };
}

export interface GanSaveOptions {
  /** Optimisers to store for --resume (by name: critic, generator). */
  optimizers?: Record<string, FlatAdamW>;
  trainerState?: Record<string, unknown>;
}

/** Writes `dir` atomically (the previous folder stays until the new one is complete). */
export async function saveGan(dir: string, gan: Gan, meta: GanMeta, o: GanSaveOptions = {}): Promise<void> {
  const weights = named(gan.parts());
  await writeCheckpointDir(dir, (tmp) => {
    writeSafetensors(join(tmp, GAN_WEIGHTS), weights, { format: 'pt' });
    writeFileSync(join(tmp, GAN_META), `${JSON.stringify(meta, null, 2)}\n`);
    if (o.optimizers) {
      const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
      const md: Record<string, string> = {};
      for (const [name, opt] of Object.entries(o.optimizers)) {
        const st = opt.exportState();
        md[`${name}.steps`] = String(st.steps);
        for (const [k, t] of st.moments) tensors.set(`${name}/${k}`, t);
      }
      writeFileSync(join(tmp, 'optimizer.safetensors'), encodeSafetensors(tensors, md));
    }
    if (o.trainerState) writeFileSync(join(tmp, 'trainer_state.json'), `${JSON.stringify(o.trainerState, null, 2)}\n`);
  });
}

export function readGanMeta(dir: string): GanMeta {
  const p = join(dir, GAN_META);
  if (!existsSync(p)) throw new Error(`${dir}: not a GAN checkpoint (no ${GAN_META})`);
  const m = JSON.parse(readFileSync(p, 'utf8')) as Partial<GanMeta>;
  if (m.format !== FORMAT || m.version !== 1 || !m.dims || !m.encoder || !m.biencoder)
    throw new Error(`${p}: not a biofeg GAN checkpoint description (format ${JSON.stringify(m.format)}, version ${JSON.stringify(m.version)})`);
  return m as GanMeta;
}

export interface GanExpectation {
  /** The bi-encoder this GAN will be used with: its hash and embedding size must match. */
  biencoder?: { hash: string; embedDim: number };
}

/** Rejects a checkpoint made for another feature size or another bi-encoder, with the reason. */
export function checkGanCompatible(dir: string, meta: GanMeta, want: GanExpectation): void {
  const b = want.biencoder;
  if (!b) return;
  if (meta.dims.featDim !== b.embedDim)
    throw new Error(`${dir}: this GAN generates features of size ${meta.dims.featDim} (bi-encoder hidden size ${meta.biencoder.hiddenSize}), but the given bi-encoder's embeddings have size ${b.embedDim}; use the bi-encoder the GAN was trained with`);
  if (meta.biencoder.hash !== b.hash)
    throw new Error(`${dir}: this GAN was trained with bi-encoder ${meta.biencoder.hash.slice(0, 19)}…, the given bi-encoder is ${b.hash.slice(0, 19)}…; features from another bi-encoder would not match its embedding space (pass the same --path_to_model as for train-gan)`);
}

/** Builds the GAN a checkpoint describes and loads its weights. */
export function loadGan(dir: string, device: DeviceName, want: GanExpectation = {}): { gan: Gan; meta: GanMeta } {
  const meta = readGanMeta(dir);
  checkGanCompatible(dir, meta, want);
  const config: BertConfig = bertConfigFromHf(meta.encoder.config, { pooler: meta.encoder.pooler });
  const enc = new DescriptionEncoder(config, device, meta.encoder.addLinear ? meta.encoder.outDim : undefined);
  const gan = new Gan(enc, meta.dims.featDim, device);
  for (const k of ['condDim', 'noiseDim', 'hiddenDim'] as const)
    if (gan.dims[k] !== meta.dims[k]) throw new Error(`${dir}/${GAN_META}: ${k} ${meta.dims[k]} does not follow from the sizes (expected ${gan.dims[k]})`);
  loadGanWeights(gan, join(dir, GAN_WEIGHTS));
  return { gan, meta };
}

export function loadGanWeights(gan: Gan, file: string): void {
  const st = readSafetensors(file);
  for (const p of gan.parts()) {
    const flat = new Float32Array(p.params.shape[0]!);
    for (const e of p.layout) {
      const name = p.prefix + e.name;
      const t = st.tensors.get(name);
      if (!t) throw new Error(`${file}: missing ${name}`);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
        throw new Error(`${file}: ${name} has shape [${t.shape.join(', ')}], the model expects [${e.shape.join(', ')}]`);
      if (!(t.data instanceof Float32Array)) throw new Error(`${file}: ${name} is not an f32 tensor`);
      flat.set(t.data, e.offset);
    }
    p.params.upload(flat);
  }
}

/** Restores optimiser moments saved by saveGan and returns trainer_state.json. */
export function loadGanTrainingState(dir: string, optimizers: Record<string, FlatAdamW>): Record<string, unknown> {
  const st = readSafetensors(join(dir, 'optimizer.safetensors'));
  for (const [name, opt] of Object.entries(optimizers)) {
    const steps = Number(st.metadata?.[`${name}.steps`] ?? NaN);
    if (!Number.isInteger(steps) || steps < 0) throw new Error(`${dir}/optimizer.safetensors: no valid '${name}.steps' metadata`);
    const moments = new Map<string, { data: Float32Array | Int32Array }>();
    for (const [k, t] of st.tensors) if (k.startsWith(`${name}/`)) moments.set(k.slice(name.length + 1), { data: t.data as Float32Array });
    opt.importState({ steps, moments });
  }
  return JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
}
