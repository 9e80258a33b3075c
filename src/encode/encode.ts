// The work of `biofeg encode`: open a BERT (an HF folder, or one side of our bi-encoder
// checkpoint) and encode rows in inference mode into one [rows, hidden] matrix in input order.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { SettingsError } from '../errors.js';
import { Bert, bertConfigFromHf, type BertPrecision } from '../models/bert.js';
import type { EncoderSide } from '../models/biencoder.js';
import type { DeviceName } from '../native.js';
import { openBiEncoder } from '../train/biencoder-checkpoint.js';
import { packBatch, planBatches, type EncodeRow } from './input.js';

export interface OpenedEncoder {
  bert: Bert;
  /** 'hf' = an HF BERT folder; 'biencoder' = one side of our bi-encoder checkpoint. */
  kind: 'hf' | 'biencoder';
}

/** Our bi-encoder checkpoints carry a "biofeg" block in config.json. */
function isBiEncoderFolder(dir: string): boolean {
  const p = join(dir, 'config.json');
  if (!existsSync(p)) return false;
  try {
    const j = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    return typeof j['biofeg'] === 'object' && j['biofeg'] !== null;
  } catch {
    return false; // loadHfFolder reports the bad JSON with its path
  }
}

export function openEncoder(dir: string, device: DeviceName, side?: EncoderSide, precision: BertPrecision = 'f32'): OpenedEncoder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new SettingsError('model', `encode: --model ${dir} is not a folder`);
  if (isBiEncoderFolder(dir)) {
    if (side === undefined)
      throw new SettingsError('side', `encode: ${dir} is a bi-encoder checkpoint; give --side context or --side candidate`);
    const { model } = openBiEncoder({ device, pathToModel: dir, precision });
    return { bert: model.encoder(side).bert, kind: 'biencoder' };
  }
  if (side !== undefined)
    throw new SettingsError('side', `encode: --side applies to bi-encoder checkpoints only; ${dir} is an HF BERT folder`);
  const hf = loadHfFolder(dir);
  // Checkpoints saved without the pooler (add_pooling_layer=False) still encode [CLS] vectors.
  const pooler = hf.tensors.has('pooler.dense.weight');
  const bert = new Bert(bertConfigFromHf(hf.config, { pooler }), device, { precision });
  bert.loadWeights(hf.tensors, { strict: true });
  return { bert, kind: 'hf' };
}

export interface EncodeOptions {
  batchSize: number;
  /** The pooler output (dense + tanh over [CLS]) instead of the last layer's [CLS] vector. */
  pooled: boolean;
  /** Called after each batch with the number of rows it held. */
  onBatch?: (rows: number) => void;
}

/** [rows.length, hidden] row-major, row i = the encoding of rows[i]. */
export async function encodeRows(bert: Bert, rows: readonly EncodeRow[], o: EncodeOptions): Promise<Float32Array> {
  const C = bert.config.hiddenSize;
  if (o.pooled && !bert.config.pooler)
    throw new SettingsError('pooled', 'encode: --pooled needs a model with a pooler (pooler.dense.* weights)');
  const longest = rows.reduce((m, r) => Math.max(m, r.ids.length), 0);
  if (longest > bert.config.maxPositions)
    throw new Error(`encode: a sequence of ${longest} tokens exceeds the model's max_position_embeddings ${bert.config.maxPositions}`);
  const out = new Float32Array(rows.length * C);
  for (const idx of planBatches(rows, o.batchSize)) {
    const b = packBatch(rows, idx);
    const r = await bert.forwardAsync({
      inputIds: b.ids,
      attentionMask: b.mask,
      batch: b.batch,
      seq: b.seq,
      train: false,
      grad: false,
      clsOnly: true,
    });
    const t = o.pooled ? r.pooled! : r.cls;
    const v = t.download() as Float32Array;
    idx.forEach((row, i) => out.set(v.subarray(i * C, (i + 1) * C), row * C));
    o.onBatch?.(idx.length);
  }
  return out;
}
