// What the model stages share: the device, the tokenizer of a model (and how worker threads
// rebuild it), the bi-encoder a stage names, the token caches of a prepared folder, and the cheap
// checks that run before any of that.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { ensureTokenCache } from '../data/cache-build.js';
import { cacheDirFor } from '../data/cache-dir.js';
import { preparedPath } from '../data/prepared.js';
import type { TokenCache } from '../data/token-cache.js';
import type { TokenizerFactory } from '../data/tokenizer-factory.js';
import { DeviceUnavailableError, SettingsError } from '../errors.js';
import type { BertPrecision } from '../models/bert.js';
import { isBertSize } from '../models/init.js';
import { engineFor } from '../engine.js';
import { engineInfo, setThreads, type DeviceName } from '../native.js';
import { builtinData, moduleFile } from '../paths.js';
import { fieldLabel } from '../settings/resolve.js';
import type { DeviceChoice, ModelSettings, Precision } from '../settings/types.js';
import { fromVocab, loadTokenizer } from '../tokenize/load.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { openBiEncoder, type Opened } from '../train/biencoder-checkpoint.js';
import type { TrainSettings } from '../train/train-biencoder.js';
import type { ResolvedSettings } from '../settings/stages.js';

const TOKENIZE_MODULE = moduleFile('tokenize/index');

/** Sets the thread count and resolves `auto`; a device this build or machine lacks is a DeviceUnavailableError. */
export function chooseDevice(o: { device: DeviceChoice; threads?: number | undefined }): DeviceName {
  if (o.threads !== undefined) setThreads(o.threads);
  const info = engineInfo();
  if (o.device === 'cpu') return 'cpu';
  if (o.device === 'cuda') {
    if (!info.cudaCompiled) throw new DeviceUnavailableError('device cuda: this build has no CUDA backend (rebuild with nvcc on the PATH)');
    if (info.cudaDevices === 0) throw new DeviceUnavailableError('device cuda: no CUDA device is available');
    return 'cuda';
  }
  return info.cudaDevices > 0 ? 'cuda' : 'cpu';
}

/** Why the CPU backend declares no bf16 (it does on a CPU with AVX512_BF16, at the avx512bf16 kernel level). */
function cpuBf16Reason(): string {
  const forced = process.env.BIOFEG_CPU_KERNEL ?? '';
  return forced !== '' && forced !== 'auto' && forced !== 'avx512bf16'
    ? `BIOFEG_CPU_KERNEL=${forced} selects a level below avx512bf16`
    : 'this CPU lacks AVX512_BF16';
}

/**
 * bf16 where the device's backend declares it (its Caps, engine(device).floats): CUDA for
 * training and inference; the CPU backend on a CPU with AVX512_BF16 for inference only (its bf16
 * kernels are the forward ones). `use` says which the stage needs.
 */
export function precisionOf(p: Precision, device: DeviceName, use: 'inference' | 'training' = 'inference'): BertPrecision {
  if (p !== 'bf16') return p;
  const e = engineFor(device);
  if (!e.floats('gemm').includes('bf16') || !e.floats('attention').includes('bf16'))
    throw new DeviceUnavailableError(
      device === 'cpu'
        ? `precision bf16 is not available on device cpu: the CPU backend computes bf16 only with AVX512_BF16 (${cpuBf16Reason()}); use device cuda or precision f32`
        : `precision bf16 is not available on device ${device}; use precision f32`,
    );
  if (use === 'training' && !e.floats('attentionBackward').includes('bf16'))
    throw new DeviceUnavailableError(
      `precision bf16 trains on CUDA only (the ${device} backend's bf16 kernels run inference: encode, evaluate); use device cuda or precision f32`,
    );
  return p;
}

export interface ModelTokenizer {
  tokenizer: WordPieceTokenizer;
  factory: TokenizerFactory;
  /** The vocab.txt to copy into checkpoints, when there is one. */
  vocabPath?: string;
  lowercase: boolean;
}

/** `vocab` wins; else the model folder's tokenizer; else the built-in vocabulary. */
export function modelTokenizer(dir: string | undefined, vocab: string | undefined): ModelTokenizer {
  if (vocab === undefined && dir === undefined) vocab = builtinData.vocabPath;
  if (vocab !== undefined) {
    return {
      tokenizer: fromVocab(vocab, { lowercase: true }),
      factory: { module: TOKENIZE_MODULE, export: 'fromVocab', args: [vocab, { lowercase: true }] },
      vocabPath: vocab,
      lowercase: true,
    };
  }
  const t = loadTokenizer(dir!);
  const v = join(dir!, 'vocab.txt');
  return {
    tokenizer: t,
    factory: { module: TOKENIZE_MODULE, export: 'loadTokenizer', args: [dir] },
    vocabPath: existsSync(v) ? v : undefined,
    lowercase: t.settings?.lowercase ?? true,
  };
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** The weight files a checkpoint folder holds (ours, or the original's). */
const CHECKPOINT_FILES = ['model.safetensors', 'pytorch_model.bin'] as const;

/**
 * The checks that cost nothing, run before a model or data is opened: the model a stage names
 * exists, and so do the data folder and the entity dictionary.
 */
export function checkModelSource(stage: string, s: Pick<ModelSettings, 'pathToModel' | 'bertModel' | 'vocab'>): void {
  if (s.pathToModel !== undefined && !existsSync(s.pathToModel))
    throw new SettingsError('pathToModel', `${stage}: ${fieldLabel('pathToModel')} ${s.pathToModel}: no such checkpoint folder or file`);
  if (s.pathToModel !== undefined && isDir(s.pathToModel) && !CHECKPOINT_FILES.some((f) => existsSync(join(s.pathToModel!, f))))
    throw new SettingsError(
      'pathToModel',
      `${stage}: ${fieldLabel('pathToModel')} ${s.pathToModel}: expected a checkpoint folder with ${CHECKPOINT_FILES.join(' or ')}`,
    );
  if (s.pathToModel === undefined && s.bertModel !== undefined && !isBertSize(s.bertModel) && !existsSync(join(s.bertModel, 'config.json')))
    throw new SettingsError(
      'bertModel',
      `${stage}: ${fieldLabel('bertModel')} "${s.bertModel}" is neither a built-in size (tiny, small, base) nor a folder with an HF BERT (config.json); nothing is downloaded: give the folder of a downloaded model, or ${fieldLabel('pathToModel')}`,
    );
  if (s.vocab !== undefined && !existsSync(s.vocab))
    throw new SettingsError('vocab', `${stage}: ${fieldLabel('vocab')} ${s.vocab}: not found`);
}

/** The data folder exists (and holds `split`.jsonl when given); returns the entity dictionary path, which must exist unless `dictionary` is false. */
export function checkDataPath(
  stage: string,
  s: { dataPath: string; entityDictPath?: string | undefined },
  split?: string,
  dictionary = true,
): string {
  if (!isDir(s.dataPath)) throw new SettingsError('dataPath', `${stage}: ${fieldLabel('dataPath')} ${s.dataPath}: no such folder`);
  if (split !== undefined && !existsSync(preparedPath(s.dataPath, split)))
    throw new SettingsError(
      'dataPath',
      `${stage}: ${fieldLabel('dataPath')} ${s.dataPath}: expected a prepared folder with ${preparedPath(s.dataPath, split).slice(s.dataPath.length + 1)} (run prepare on the arboEL folder first)`,
    );
  const dict = s.entityDictPath ?? join(s.dataPath, '..', 'documents', 'all_documents.json');
  if (dictionary && !existsSync(dict)) {
    throw s.entityDictPath !== undefined
      ? new SettingsError('entityDictPath', `${stage}: ${fieldLabel('entityDictPath')} ${dict}: not found`)
      : new SettingsError('entityDictPath', `${stage}: ${fieldLabel('entityDictPath')} is required: no ${dict} beside the data folder`);
  }
  return dict;
}

type ModelStage = Pick<
  ResolvedSettings['trainBiencoder'],
  'pathToModel' | 'bertModel' | 'vocab' | 'addLinear' | 'outDim' | 'seed' | 'dropout' | 'precision'
>;

/** The bi-encoder a stage names (checkpoint, HF folder or built-in size) and its tokenizer. */
export function openModel(s: ModelStage, device: DeviceName): Opened & { tok: ModelTokenizer } {
  const ck = s.pathToModel ? (statSync(s.pathToModel).isDirectory() ? s.pathToModel : dirname(s.pathToModel)) : undefined;
  const ckHasTokenizer = ck !== undefined && (existsSync(join(ck, 'vocab.txt')) || existsSync(join(ck, 'tokenizer.json')));
  const bertDir = isDir(s.bertModel) ? s.bertModel : undefined;
  const tok = modelTokenizer(ckHasTokenizer ? ck : bertDir, s.vocab);
  const opened = openBiEncoder({
    device,
    pathToModel: s.pathToModel,
    bertModel: s.bertModel,
    vocabSize: tok.tokenizer.vocabSize,
    seed: s.seed,
    // Given settings win; a checkpoint's own otherwise.
    settings: s.addLinear ? { addLinear: true, outDim: s.outDim } : {},
    ...(s.dropout !== undefined ? { dropout: s.dropout } : {}),
    // Training stages check precisionOf(..., 'training') first, before any work.
    precision: precisionOf(s.precision, device, 'inference'),
  });
  return { ...opened, tok };
}

export interface CacheRequest {
  kind: 'mentions' | 'entities';
  source: string;
  cacheDir: string;
  /** File stem: the split name, or 'entities'. */
  name: string;
  maxContextLength: number;
  maxCandLength: number;
  onProgress?: (rows: number) => void;
}

/** Opens (building or rebuilding when stale) the token cache of a split or of the entity dictionary. */
export async function openCache(t: ModelTokenizer, r: CacheRequest): Promise<TokenCache> {
  const len = r.kind === 'mentions' ? r.maxContextLength : r.maxCandLength;
  const res = await ensureTokenCache({
    kind: r.kind,
    source: r.source,
    cachePath: join(r.cacheDir, `${r.name}.${len}.tokens`),
    tokenizer: t.tokenizer,
    factory: t.factory,
    maxContextLength: r.maxContextLength,
    maxCandLength: r.maxCandLength,
    ...(r.onProgress ? { onProgress: r.onProgress } : {}),
  });
  return res.cache;
}

/** Token caches of the train and val mentions and of the entity dictionary of a prepared folder. */
export async function openTrainVal(
  s: { dataPath: string; maxContextLength: number; maxCandLength: number },
  entityDict: string,
  tok: ModelTokenizer,
  out: string,
  say: (s: string) => void,
) {
  const lens = { maxContextLength: s.maxContextLength, maxCandLength: s.maxCandLength, cacheDir: cacheDirFor(s.dataPath, out) };
  say('tokenizing (cached after the first run)');
  const entities = await openCache(tok, { kind: 'entities', source: entityDict, name: 'entities', ...lens });
  const split = async (name: string) => ({
    mentions: await openCache(tok, { kind: 'mentions', source: preparedPath(s.dataPath, name), name, ...lens }),
    entities,
  });
  return { train: await split('train'), val: await split('val') };
}

/** The loop's settings out of a stage's. */
export function trainSettingsOf(
  s: ResolvedSettings['trainBiencoder'] | ResolvedSettings['finetune'] | ResolvedSettings['trainCrossencoder'],
): TrainSettings {
  return {
    learningRate: s.learningRate,
    numTrainEpochs: s.numTrainEpochs,
    trainBatchSize: s.trainBatchSize,
    evalBatchSize: s.evalBatchSize,
    gradientAccumulationSteps: s.gradientAccumulationSteps,
    warmupProportion: s.warmupProportion,
    maxGradNorm: s.maxGradNorm,
    typeOptimization: s.typeOptimization,
    seed: s.seed,
    printInterval: s.printInterval,
    evalInterval: s.evalInterval,
    shuffle: s.shuffle,
  };
}
