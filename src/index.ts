/**
 * biofeg: BioFEG biomedical entity linking for Node.js, on a native C++/CUDA engine.
 *
 * Every long call takes a typed settings object (camelCase; the original's flags and defaults)
 * and `{ signal, onProgress }`, runs in a worker thread (the caller's event loop stays free) and
 * resolves to a result object. Errors are {@link BiofegError}s with a stable `code`.
 *
 * @example
 * ```ts
 * import { builtinData, prepare, trainBiencoder, loadBert } from 'biofeg';
 * await prepare({ dataDir: builtinData.dir, outDir: 'work/processed' });
 * const run = await trainBiencoder({ dataPath: 'work/processed', outputPath: 'work/model',
 *   entityDictPath: builtinData.entityDictPath, bertModel: 'tiny', device: 'cpu' });
 * const bert = await loadBert(run.outputPath, { side: 'context' });
 * const vectors = await bert.encode(['type 2 diabetes']);
 * await bert.dispose();
 * ```
 * @packageDocumentation
 */

// Training, evaluation and data
export {
  trainBiencoder,
  finetune,
  trainGan,
  generateFeatures,
  evaluateBiencoder,
  trainCrossencoder,
  evaluateCrossencoder,
  pretrainSynonyms,
  prepare,
  importPubtator,
  encodeFile,
  runPipeline,
} from './api/calls.js';
export type { CallOptions, ProgressEvent, MessageEvent, CountEvent, StageEvent } from './api/events.js';
export type {
  DeviceChoice,
  Precision,
  TypeOptimization,
  EvalMode,
  RunSettings,
  ModelSettings,
  DataSettings,
  LoopSettings,
  TrainBiencoderSettings,
  FinetuneSettings,
  TrainGanSettings,
  GenerateFeaturesSettings,
  EvaluateBiencoderSettings,
  CrossencoderModelSettings,
  TrainCrossencoderSettings,
  EvaluateCrossencoderSettings,
  PretrainSynonymsSettings,
  PrepareSettings,
  ImportPubtatorSettings,
  DistNegatives,
} from './settings/types.js';
export type { TrainBiencoderResult } from './stages/train-biencoder.js';
export type { TrainGanResult } from './stages/train-gan.js';
export type { EpochLosses } from './train/train-gan.js';
export type { GenerateFeaturesResult } from './stages/generate-features.js';
export type { EvaluateBiencoderResult, ModeRecall } from './stages/evaluate.js';
export type { TrainCrossencoderResult } from './stages/train-cross.js';
export type { EvaluateCrossencoderResult, CrossModeReport } from './stages/evaluate-cross.js';
export type { PretrainSynonymsResult } from './stages/pretrain-synonyms.js';
export type { PairStats } from './data/synonym-pairs.js';
export type { PrepareResult, CacheSummary } from './stages/prepare.js';
export type { PrepareReport, SplitReport } from './data/prepare.js';
export type { ImportReport } from './data/import-pubtator.js';
export type { EncodeFileResult, EncodeFileSettings, EncodeOptions, LoadBertOptions, BertFacts } from './stages/encode.js';

// The disk cache of entity encodings (eval-biencoder's output folder)
export {
  cleanEmbeddingCache,
  pruneEmbeddingCache,
  listEmbeddingCache,
  DEFAULT_EMBEDDING_CACHE_MB,
} from './eval/embedding-cache.js';
export type { EmbeddingCacheEntry, PruneResult } from './eval/embedding-cache.js';

// The pipeline
export { parsePipelineConfig, readPipelineConfig, pipelineStageNames } from './pipeline/config.js';
export type { PipelineConfig, PipelineShared } from './pipeline/config.js';
export type { PipelineResult, EvalSummary } from './pipeline/run.js';
export type { StageOutcome } from './train/pipeline-state.js';

// Reports: one self-contained HTML page of a run folder (`biofeg report`)
export { writeReport, readRun } from './report/index.js';
export type {
  ReportSettings,
  ReportResult,
  RunData,
  StageData,
  StageKind,
  StageStatus,
  StepPoint,
  EpochPoint,
  GanEpoch,
  ModeCurve,
  RerankMode,
} from './report/index.js';

// Models
export { loadBert, BertEncoder } from './api/bert.js';

// Linking from a Node service: a model and an entity index loaded once
export { Linker } from './link/linker.js';
export type { LinkCandidate, LinkerBatch, LinkerInfo, LinkerOptions, LinkerStats, LinkMention, LinkOptions } from './link/types.js';
export { buildIndex, openIndex, EntityIndex } from './link/entity-index.js';
export type { EntityIndexInfo, IndexUpdateOptions } from './link/entity-index.js';
export type { BuildIndexSettings, BuildIndexResult, UpdateIndexResult } from './link/index-build.js';
export type { KbEntity } from './link/kb.js';

// The HTTP service over a Linker (`biofeg serve`)
export { createServer } from './serve/index.js';
export type { LinkServer, LinkService, ServeOptions, ServerAddress, ServeErrorCode } from './serve/index.js';

// Tokenization (plain, synchronous: a WordPiece encode takes microseconds)
export { loadTokenizer, fromVocab } from './tokenize/load.js';
export type { WordPieceTokenizer } from './tokenize/types.js';
export type { NormalizationOptions } from './tokenize/load.js';

// Settings: the one table of fields and defaults
export { resolveSettings, defaultOf } from './settings/resolve.js';
export { FIELDS } from './settings/fields.js';
export type { FieldName, FieldSpec } from './settings/fields.js';
export { STAGES, FINETUNE_LEARNING_RATE } from './settings/stages.js';
export type { StageName, ResolvedSettings } from './settings/stages.js';

// Engine and package
export { info, version } from './api/info.js';
export type { EngineFacts } from './api/info.js';
export { builtinData } from './paths.js';

// Errors
export {
  BiofegError,
  SettingsError,
  InputError,
  CheckpointRejectedError,
  DeviceUnavailableError,
  AbortError,
  NonFiniteError,
  AddonUnavailableError,
  OutputBusyError,
  OverloadedError,
  ArgumentError,
  OutOfMemoryError,
} from './errors.js';
export type { AddonAttempt, AddonSource, BackendCaps, BackendName, DeviceName } from './native.js';
export type { BiofegErrorCode } from './errors.js';
// Several processes (mpirun): the communicator a training stage opens, and its pieces
export { Communicator } from './comm/communicator.js';
export { NcclCommunicator } from './comm/nccl.js';
export { CommunicatorUnavailableError } from './comm/errors.js';
export { launchInfo, type LaunchInfo } from './comm/launch.js';
export { shardOf } from './comm/data-parallel.js';
