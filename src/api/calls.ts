// The library's long calls. Each checks its settings, runs in a worker thread of its own (the
// caller's event loop stays free) and resolves to a plain result object.
import type { PipelineConfig } from '../pipeline/config.js';
import type { PipelineResult } from '../pipeline/run.js';
import type {
  EvaluateBiencoderSettings,
  EvaluateCrossencoderSettings,
  FinetuneSettings,
  GenerateFeaturesSettings,
  ImportPubtatorSettings,
  PrepareSettings,
  PretrainSynonymsSettings,
  TrainBiencoderSettings,
  TrainCrossencoderSettings,
  TrainGanSettings,
} from '../settings/types.js';
import type { EvaluateCrossencoderResult } from '../stages/evaluate-cross.js';
import type { TrainCrossencoderResult } from '../stages/train-cross.js';
import type { EncodeFileResult, EncodeFileSettings } from '../stages/encode.js';
import type { EvaluateBiencoderResult } from '../stages/evaluate.js';
import type { GenerateFeaturesResult } from '../stages/generate-features.js';
import type { PrepareResult } from '../stages/prepare.js';
import type { PretrainSynonymsResult } from '../stages/pretrain-synonyms.js';
import type { TrainBiencoderResult } from '../stages/train-biencoder.js';
import type { TrainGanResult } from '../stages/train-gan.js';
import type { ImportReport } from '../data/import-pubtator.js';
import type { CallOptions } from './events.js';
import { checkSingleProcessCall } from '../comm/launch.js';
import { resolveSettings } from '../settings/resolve.js';
import type { StageName } from '../settings/stages.js';
import { runTask } from './worker-host.js';
import type { TaskName, TaskResult, TaskSettings } from './tasks.js';

/** Settings are checked here, on the caller's thread, before a worker starts: errors come at once. */
function run<K extends TaskName & StageName>(name: K, settings: TaskSettings<K>, options?: CallOptions): Promise<TaskResult<K>> {
  try {
    checkSingleProcessCall(name);
    resolveSettings(name, settings);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  return runTask(name, settings, options);
}

/**
 * Trains the bi-encoder (the original's train_biencoder.py; with `hard`, train_biencoder_hard.py):
 * in-batch validation before training and after each epoch, `epoch_N/` checkpoints, the best one
 * copied to `outputPath`. Aborting writes `outputPath/last` and rejects with an AbortError;
 * `resume: true` continues from it.
 */
export function trainBiencoder(settings: TrainBiencoderSettings, options?: CallOptions): Promise<TrainBiencoderResult> {
  return run('trainBiencoder', settings, options);
}

/** Fine-tunes the candidate encoder on generated features (finetune.py / finetune_hard.py). */
export function finetune(settings: FinetuneSettings, options?: CallOptions): Promise<TrainBiencoderResult> {
  return run('finetune', settings, options);
}

/** Trains the conditional WGAN-GP feature generator against a frozen bi-encoder (train_gan.py). */
export function trainGan(settings: TrainGanSettings, options?: CallOptions): Promise<TrainGanResult> {
  return run('trainGan', settings, options);
}

/** Generates features for every entity no training mention links to (generate_features.py / _hard.py). */
export function generateFeatures(settings: GenerateFeaturesSettings, options?: CallOptions): Promise<GenerateFeaturesResult> {
  return run('generateFeatures', settings, options);
}

/**
 * Retrieves the top-k entities of every mention of each mode and reports recall@k
 * (eval_biencoder.py); writes `<outputPath>/eval_report.json`.
 */
export function evaluateBiencoder(settings: EvaluateBiencoderSettings, options?: CallOptions): Promise<EvaluateBiencoderResult> {
  return run('evaluateBiencoder', settings, options);
}

/**
 * Trains the cross-encoder reranker (BioFEG's train_cross.py) on the candidate files of a
 * `top<k>_candidates` folder (evaluateBiencoder with saveTopkResult on train and valid, or the
 * original's .t7 files): normalized accuracy on val before training and after each epoch,
 * `epoch_N/` checkpoints, the best copied to `outputPath`; abort and `resume` as trainBiencoder.
 */
export function trainCrossencoder(settings: TrainCrossencoderSettings, options?: CallOptions): Promise<TrainCrossencoderResult> {
  return run('trainCrossencoder', settings, options);
}

/**
 * Reranks each mode's candidates with a trained cross-encoder and reports normalized and
 * unnormalized accuracy beside the bi-encoder's; writes `<outputPath>/eval_report.json`.
 */
export function evaluateCrossencoder(settings: EvaluateCrossencoderSettings, options?: CallOptions): Promise<EvaluateCrossencoderResult> {
  return run('evaluateCrossencoder', settings, options);
}

/**
 * SapBERT's self-alignment pretraining on a KB's own names (cambridgeltl/sapbert train.py with
 * pretrain.sh's settings): pairs of synonyms of each concept, the multi-similarity loss with
 * online triplet mining over [CLS] vectors, AdamW. `outputPath` becomes an HF BERT folder that
 * trainBiencoder's `bertModel` takes; abort and `resume` as trainBiencoder.
 */
export function pretrainSynonyms(settings: PretrainSynonymsSettings, options?: CallOptions): Promise<PretrainSynonymsResult> {
  return run('pretrainSynonyms', settings, options);
}

/** arboEL layout to processed/*.jsonl, byte for byte the original data_process.py's; optional token caches. */
export function prepare(settings: PrepareSettings, options?: CallOptions): Promise<PrepareResult> {
  return run('prepare', settings, options);
}

/** PubTator corpora and a MEDIC or CTD dictionary to the arboEL layout (then {@link prepare}). */
export function importPubtator(settings: ImportPubtatorSettings, options?: CallOptions): Promise<ImportReport> {
  return run('importPubtator', settings, options);
}

/** A JSONL file of texts or token ids to a float32 .npy of encodings (`biofeg encode`). */
export function encodeFile(settings: EncodeFileSettings, options?: CallOptions): Promise<EncodeFileResult> {
  try {
    checkSingleProcessCall('encodeFile');
  } catch (e) {
    return Promise.reject(e as Error);
  }
  return runTask('encodeFile', settings, options);
}

/**
 * The original's whole schedule from one config: bi-encoder, eval, GAN, generate, finetune, eval,
 * then the hard-negative round. Each stage has a folder with a DONE.json; a rerun skips finished
 * stages (and reruns a finished one whose settings changed, and all after it).
 */
export function runPipeline(config: PipelineConfig, options?: CallOptions): Promise<PipelineResult> {
  try {
    checkSingleProcessCall('runPipeline');
  } catch (e) {
    return Promise.reject(e as Error);
  }
  return runTask('runPipeline', config, options);
}
