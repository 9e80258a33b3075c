// Encodings the GAN stage reads but never changes: the frozen bi-encoder's mention embeddings of
// the training split (the "real" features; train_gan.py recomputes them at every critic step)
// and its candidate embeddings of the validation split, each computed once into one device
// tensor and gathered by row. And feature generation for a list of entities in one call.
import type { TokenCache } from '../data/token-cache.js';
import type { BiEncoder, EncoderSide } from '../models/biencoder.js';
import type { Gan } from '../models/gan.js';
import { engineFor } from '../engine.js';
import { tensor, type NativeTensor } from '../native.js';
import type { Workspace } from '../models/workspace.js';
import { readBatch, type BiencoderData } from './biencoder-data.js';

/**
 * One side of the frozen bi-encoder over every example of `data` (eval mode, no dropout):
 * context = the mentions, candidate = each mention's gold entity. [examples, embedDim] on the device.
 */
export async function encodeSplit(
  model: BiEncoder,
  data: BiencoderData,
  side: EncoderSide,
  o: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<NativeTensor> {
  const n = data.mentions.rows,
    bs = o.batchSize ?? 64,
    D = model.embedDim;
  const out = tensor(model.device, 'f32', [n, D]);
  for (let s = 0; s < n; s += bs) {
    const rows = Math.min(bs, n - s);
    const b = readBatch(
      data,
      Int32Array.from({ length: rows }, (_, i) => s + i),
    );
    const emb = await model.encode(side, side === 'context' ? b.ctx : b.cand, false);
    out.view(s * D, [rows, D]).copyFrom(emb);
    o.onProgress?.(s + rows, n);
  }
  return out;
}

/** Rows `idx` of a device table [N, D] into `out` [idx.length, D] (the embedding op as a gather). */
export function gatherRows(ws: Workspace, table: NativeTensor, idx: ArrayLike<number>, out: NativeTensor): void {
  const ids = ws.ints('gather.ids', [idx.length], Int32Array.from(idx));
  engineFor(table.device === 'cuda' ? 'cuda' : 'cpu').embedding(ids, table, out);
}

export interface GenerateOptions {
  batchSize?: number;
  /** Noise seed; batch k draws from seed + k. */
  seed?: number;
  /** ReLU on G's output (generate_features.py: yes; train_gan.py's evaluate: no). Default true. */
  relu?: boolean;
}

/**
 * Generated features for the entities at `rows` of an entity token cache (E in eval mode, fresh
 * noise per batch): [rows.length × featDim] on the host, in the order of `rows`.
 */
export async function generateFeatures(
  gan: Gan,
  entities: TokenCache,
  rows: ArrayLike<number>,
  o: GenerateOptions = {},
): Promise<Float32Array> {
  const bs = o.batchSize ?? 64,
    F = gan.dims.featDim,
    n = rows.length;
  const out = new Float32Array(n * F);
  for (let s = 0, k = 0; s < n; s += bs, k++) {
    const idx = Array.from({ length: Math.min(bs, n - s) }, (_, i) => rows[s + i]!);
    for (const r of idx)
      if (r < 0 || r >= entities.rows) throw new Error(`${entities.path}: entity row ${r} is outside the ${entities.rows} entities`);
    const feats = await gan.generate(
      { ids: entities.readRows(idx), rows: idx.length, seq: entities.width },
      { noiseSeed: (o.seed ?? 0) + k, relu: o.relu ?? true },
    );
    out.set(feats.download() as Float32Array, s * F);
  }
  return out;
}
