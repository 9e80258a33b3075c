// The generateFeatures stage: the original's generate_features.py and, with `hard`,
// generate_features_hard.py. Features of G for every entity no training mention links to, saved
// with their entity as a candidate file (src/train/generate-features.ts) that finetune reads.
import { resolve } from 'node:path';

import { count, say, type TaskContext } from '../api/events.js';
import { cacheDirFor } from '../data/cache-dir.js';
import { preparedPath } from '../data/prepared.js';
import { AbortError } from '../errors.js';
import { resolveSettings } from '../settings/resolve.js';
import type { GenerateFeaturesSettings } from '../settings/types.js';
import { biencoderHash, loadGan } from '../train/gan-checkpoint.js';
import { generateFeatureFile, labelIds, resolveGanPath, unseenEntities } from '../train/generate-features.js';
import { withOutputLock } from './output-lock.js';
import { checkDataPath, checkModelSource, chooseDevice, openCache, openModel, precisionOf } from './setup.js';

export interface GenerateFeaturesResult {
  /** The candidate file finetune reads. */
  path: string;
  /** Features written (one per entity unseen in train). */
  count: number;
  /** Candidates per feature (1 without `hard`). */
  topK: number;
  /** With `hard`: features whose entity was inserted at position 0. */
  inserted: number;
  seconds: number;
}

export async function runGenerateFeatures(input: GenerateFeaturesSettings, ctx: TaskContext): Promise<GenerateFeaturesResult> {
  const s = resolveSettings('generateFeatures', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'inference');
  checkModelSource('generateFeatures', s);
  if (s.ganBiencoder !== undefined) checkModelSource('generateFeatures', { pathToModel: s.ganBiencoder });
  const entityDict = checkDataPath('generateFeatures', s, 'train');
  const ganFile = resolveGanPath(s.ganPath);
  const t0 = performance.now();
  const { model, tok } = openModel({ ...s, dropout: undefined }, device);
  // The GAN must come from the bi-encoder it imitates: pathToModel, or ganBiencoder when the hard
  // round scores with a later bi-encoder (as the original's README does).
  const ref = s.ganBiencoder ? openModel({ ...s, pathToModel: s.ganBiencoder, dropout: undefined }, device).model : model;
  const { gan } = loadGan(ganFile, device, {
    biencoder: { hash: biencoderHash(ref), embedDim: ref.embedDim },
    precision: precisionOf(s.precision, device, 'inference'),
  });

  const lens = { maxContextLength: s.maxContextLength, maxCandLength: s.maxCandLength, cacheDir: cacheDirFor(s.dataPath, s.outputPath) };
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', ...lens });
  const train = await openCache(tok, { kind: 'mentions', source: preparedPath(s.dataPath, 'train'), name: 'train', ...lens });
  const rows = unseenEntities(labelIds(train), entities.rows);
  train.close();
  say(ctx, `${rows.length} of ${entities.rows} entities are not linked by any training mention; generating their features with ${ganFile}`);
  const r = await withOutputLock(s.outputPath, 'generateFeatures', () =>
    generateFeatureFile({
      biencoder: model,
      gan,
      entities,
      rows,
      outputPath: s.outputPath,
      hard: s.hard,
      topK: s.topK,
      batchSize: s.evalBatchSize,
      encodeBatchSize: s.encodeBatchSize,
      seed: s.seed,
      source: { gan: resolve(ganFile), pathToModel: resolve(s.pathToModel), entityDict: resolve(entityDict) },
      onProgress: (label, done, total) => {
        // Nothing is written until the end: an abort leaves no partial file.
        if (ctx.stop.requested) throw new AbortError('generateFeatures: aborted; nothing was written');
        count(ctx, label, done, total);
      },
    }),
  );
  const h = r.header;
  say(
    ctx,
    s.hard
      ? `${h.count} features with their top-${h.topK} entities (gold inserted at 0 for ${h.inserted}) written to ${r.path}`
      : `${h.count} features written to ${r.path}`,
  );
  return { path: r.path, count: h.count, topK: h.topK, inserted: h.inserted ?? 0, seconds: (performance.now() - t0) / 1000 };
}
