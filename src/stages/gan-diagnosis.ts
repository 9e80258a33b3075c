// Issue 22's diagnosis of a pipeline run: do the GAN's features look like real mention features?
// For the entities that training mentions link to (the only ones with real features), G's
// features (several noise draws each, ReLU as generate-features writes them) are compared with
// the frozen bi-encoder's mention embeddings of train (the "real" features the critic saw):
// norms, cosine to the entity's own mentions against other entities', nearest centroid. With the
// GAN curves and the unseen recall before/after fine-tuning (src/report/gan-summary.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { cacheDirFor } from '../data/cache-dir.js';
import { preparedPath } from '../data/prepared.js';
import { InputError } from '../errors.js';
import { compareFeatures, type FeatureComparison } from '../eval/feature-stats.js';
import { biencoderHash, loadGan } from '../train/gan-checkpoint.js';
import { encodeSplit, generateFeatures } from '../train/gan-features.js';
import { labelIds, resolveGanPath } from '../train/generate-features.js';
import { chooseDevice, openCache, openModel } from './setup.js';

export interface FeatureDiagnosisSettings {
  /** The pipeline's output folder (pipeline.json, biencoder/, gan/). */
  runDir: string;
  /** Noise draws per entity (default 4). */
  draws?: number;
  /** At most this many seen entities, the most mentioned first (default 500). */
  maxEntities?: number;
  threads?: number;
}

export interface FeatureDiagnosis extends FeatureComparison {
  ganFile: string;
  biencoder: string;
  draws: number;
}

type Json = Record<string, unknown>;
const str = (c: Json, a: string, b: string): string | undefined => {
  const v = c[a] ?? c[b];
  return typeof v === 'string' ? v : undefined;
};
const int = (c: Json, a: string, b: string, d: number): number => {
  const v = c[a] ?? c[b];
  return typeof v === 'number' ? v : d;
};

/** Generated vs real features of a finished pipeline run's GAN and first-round bi-encoder. */
export async function diagnoseGanFeatures(o: FeatureDiagnosisSettings): Promise<FeatureDiagnosis> {
  const cfgPath = join(o.runDir, 'pipeline.json');
  if (!existsSync(cfgPath)) throw new InputError(cfgPath, undefined, 'not found (expected a biofeg pipeline folder)');
  let cfg: Json;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Json;
  } catch (e) {
    throw new InputError(cfgPath, undefined, `invalid JSON (${(e as Error).message})`);
  }
  const dataPath = str(cfg, 'dataPath', 'data_path');
  if (dataPath === undefined) throw new InputError(cfgPath, undefined, 'expected "data_path"');
  const entityDict = str(cfg, 'entityDictPath', 'entity_dict_path') ?? join(dataPath, '..', 'documents', 'all_documents.json');
  const lens = {
    maxContextLength: int(cfg, 'maxContextLength', 'max_context_length', 128),
    maxCandLength: int(cfg, 'maxCandLength', 'max_cand_length', 128),
  };
  const biencoderDir = join(o.runDir, 'biencoder');
  const ganFile = resolveGanPath(join(o.runDir, 'gan'));
  const device = chooseDevice({ device: 'cpu', threads: o.threads });
  const vocab = str(cfg, 'vocab', 'vocab');
  const { model, tok } = openModel(
    { pathToModel: biencoderDir, bertModel: 'tiny', vocab, addLinear: false, outDim: 1, seed: 0, dropout: undefined, precision: 'f32' },
    device,
  );
  const { gan } = loadGan(ganFile, device, { biencoder: { hash: biencoderHash(model), embedDim: model.embedDim } });
  const cacheDir = cacheDirFor(dataPath, o.runDir);
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', cacheDir, ...lens });
  const train = await openCache(tok, { kind: 'mentions', source: preparedPath(dataPath, 'train'), name: 'train', cacheDir, ...lens });
  try {
    const labels = labelIds(train);
    const real = await encodeSplit(model, { mentions: train, entities }, 'context');
    const realData = real.download() as Float32Array;
    real.dispose();
    // The most mentioned seen entities (ties by id), so each has several real rows.
    const counts = new Map<number, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const chosen = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, o.maxEntities ?? 500)
      .map(([e]) => e);
    const draws = o.draws ?? 4;
    const rows = Int32Array.from({ length: chosen.length * draws }, (_, i) => chosen[i % chosen.length]!);
    const gen = await generateFeatures(gan, entities, rows, { seed: 7919 });
    const dim = model.embedDim;
    const cmp = compareFeatures({ data: realData, dim, labels }, { data: gen, dim, labels: rows });
    return { ...cmp, ganFile: resolve(ganFile), biencoder: resolve(biencoderDir), draws };
  } finally {
    train.close();
    entities.close();
  }
}
