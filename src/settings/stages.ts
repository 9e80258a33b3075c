// Which fields each stage takes, which it needs and where its defaults differ from the table.
import type { FieldName } from './fields.js';
import type {
  EvaluateBiencoderSettings,
  EvaluateCrossencoderSettings,
  FinetuneSettings,
  GenerateFeaturesSettings,
  ImportPubtatorSettings,
  PrepareSettings,
  TrainBiencoderSettings,
  TrainCrossencoderSettings,
  TrainGanSettings,
  PretrainSynonymsSettings,
} from './types.js';

export interface StageSpec {
  /** For messages: `trainBiencoder: ...`. */
  name: string;
  fields: readonly FieldName[];
  required: readonly FieldName[];
  /** This stage's defaults where they differ from the field table's. */
  defaults?: Partial<Record<FieldName, number | string | boolean | readonly string[]>>;
}

const RUN = ['device', 'threads', 'precision', 'seed'] as const;
const MODEL = [...RUN, 'bertModel', 'pathToModel', 'vocab', 'addLinear', 'outDim', 'dropout', 'maxContextLength', 'maxCandLength'] as const;
const DATA = ['dataPath', 'entityDictPath', 'outputPath'] as const;
const LOOP = [
  'learningRate',
  'numTrainEpochs',
  'trainBatchSize',
  'evalBatchSize',
  'gradientAccumulationSteps',
  'warmupProportion',
  'maxGradNorm',
  'typeOptimization',
  'printInterval',
  'evalInterval',
  'shuffle',
  'resume',
  'bucketCapMb',
] as const;

/** The cross-encoder's model and pair settings (its data are candidate files: no dictionary, no windows to tokenise). */
const CROSS = [
  ...RUN,
  'bertModel',
  'pathToModel',
  'vocab',
  'addLinear',
  'dropout',
  'maxContextLength',
  'maxSeqLength',
  'maxPairsPerBatch',
  'dataPath',
] as const;

/** The original README's fine-tuning rate (finetune.py). */
export const FINETUNE_LEARNING_RATE = 1e-9;

export const STAGES = {
  trainBiencoder: {
    name: 'trainBiencoder',
    fields: [...MODEL, ...DATA, ...LOOP, 'hard', 'distNegatives'],
    required: ['dataPath', 'outputPath'],
  },
  finetune: {
    name: 'finetune',
    fields: [...MODEL, ...DATA, ...LOOP, 'hard', 'distNegatives', 'generateDataPath'],
    required: ['dataPath', 'outputPath', 'generateDataPath'],
    defaults: { learningRate: FINETUNE_LEARNING_RATE },
  },
  trainGan: {
    name: 'trainGan',
    fields: [
      ...MODEL,
      ...DATA,
      'learningRate',
      'numTrainEpochs',
      'trainBatchSize',
      'evalBatchSize',
      'criticIters',
      'typeOptimization',
      'saveEvery',
      'startSaving',
      'shuffle',
      'mseWeight',
      'condGrad',
      'resume',
      'bucketCapMb',
    ],
    required: ['dataPath', 'outputPath'],
    defaults: { learningRate: 5e-5 },
  },
  generateFeatures: {
    name: 'generateFeatures',
    fields: [...MODEL, ...DATA, 'ganPath', 'ganBiencoder', 'hard', 'topK', 'encodeBatchSize', 'evalBatchSize'],
    required: ['dataPath', 'outputPath', 'ganPath', 'pathToModel'],
    defaults: { topK: 64 },
  },
  evaluateBiencoder: {
    name: 'evaluateBiencoder',
    fields: [
      ...MODEL,
      ...DATA,
      'modes',
      'topK',
      'encodeBatchSize',
      'evalBatchSize',
      'saveTopkResult',
      'poolDtype',
      'embeddingCacheMb',
      'workers',
    ],
    required: ['dataPath', 'outputPath'],
    defaults: { topK: 64 },
  },
  trainCrossencoder: {
    name: 'trainCrossencoder',
    fields: [...CROSS, 'outputPath', ...LOOP],
    required: ['dataPath', 'outputPath'],
    defaults: { addLinear: true },
  },
  evaluateCrossencoder: {
    name: 'evaluateCrossencoder',
    fields: [...CROSS, 'outputPath', 'modes', 'evalBatchSize'],
    required: ['dataPath', 'outputPath', 'pathToModel'],
    defaults: { addLinear: true, modes: ['test'] },
  },
  pretrainSynonyms: {
    name: 'pretrainSynonyms',
    fields: [
      ...RUN,
      'bertModel',
      'vocab',
      'dropout',
      'kb',
      'dataPath',
      'outputPath',
      'learningRate',
      'weightDecay',
      'trainBatchSize',
      'epochs',
      'maxLength',
      'shuffle',
      'resume',
      'distNegatives',
      'bucketCapMb',
    ],
    required: ['outputPath'],
    // SapBERT's train/pretrain.sh.
    defaults: { learningRate: 2e-5, trainBatchSize: 256 },
  },
  prepare: {
    name: 'prepare',
    fields: ['dataDir', 'outDir', 'skipInvalid', 'vocab', 'tokenizer', 'cased', 'maxContextLength', 'maxCandLength', 'workers'],
    required: ['dataDir'],
    defaults: { workers: 2 },
  },
  importPubtator: {
    name: 'importPubtator',
    fields: ['train', 'val', 'test', 'dictionary', 'outDir', 'types', 'composite', 'maxDropped'],
    required: ['train', 'val', 'test', 'dictionary', 'outDir'],
  },
} as const satisfies Record<string, StageSpec>;

export type StageName = keyof typeof STAGES;

/** Settings after validation: every defaulted field present. */
type Filled<S, D extends keyof S> = Omit<S, D> & Required<Pick<S, D>>;

type CommonDefaults = 'device' | 'precision' | 'seed' | 'bertModel' | 'outDim' | 'maxContextLength' | 'maxCandLength';
type CrossDefaults = 'device' | 'precision' | 'seed' | 'bertModel' | 'addLinear' | 'maxContextLength' | 'maxSeqLength';
type LoopDefaults =
  | 'learningRate'
  | 'numTrainEpochs'
  | 'trainBatchSize'
  | 'evalBatchSize'
  | 'gradientAccumulationSteps'
  | 'warmupProportion'
  | 'maxGradNorm'
  | 'typeOptimization'
  | 'printInterval'
  | 'evalInterval'
  | 'shuffle'
  | 'resume';

export interface ResolvedSettings {
  trainBiencoder: Filled<TrainBiencoderSettings, CommonDefaults | LoopDefaults | 'hard'>;
  finetune: Filled<FinetuneSettings, CommonDefaults | LoopDefaults | 'hard'>;
  trainGan: Filled<
    TrainGanSettings,
    | CommonDefaults
    | 'learningRate'
    | 'numTrainEpochs'
    | 'trainBatchSize'
    | 'evalBatchSize'
    | 'criticIters'
    | 'typeOptimization'
    | 'saveEvery'
    | 'startSaving'
    | 'shuffle'
    | 'mseWeight'
    | 'condGrad'
    | 'resume'
  >;
  generateFeatures: Filled<GenerateFeaturesSettings, CommonDefaults | 'hard' | 'topK' | 'encodeBatchSize' | 'evalBatchSize'>;
  evaluateBiencoder: Filled<
    EvaluateBiencoderSettings,
    CommonDefaults | 'modes' | 'topK' | 'encodeBatchSize' | 'evalBatchSize' | 'saveTopkResult' | 'poolDtype' | 'embeddingCacheMb'
  >;
  trainCrossencoder: Filled<TrainCrossencoderSettings, CrossDefaults | LoopDefaults>;
  evaluateCrossencoder: Filled<EvaluateCrossencoderSettings, CrossDefaults | 'modes' | 'evalBatchSize'>;
  pretrainSynonyms: Filled<
    PretrainSynonymsSettings,
    | 'device'
    | 'precision'
    | 'seed'
    | 'bertModel'
    | 'learningRate'
    | 'weightDecay'
    | 'trainBatchSize'
    | 'epochs'
    | 'maxLength'
    | 'shuffle'
    | 'resume'
  >;
  prepare: Filled<PrepareSettings, 'skipInvalid' | 'cased' | 'maxContextLength' | 'maxCandLength' | 'workers'>;
  importPubtator: Filled<ImportPubtatorSettings, 'composite' | 'maxDropped'>;
}

export interface InputSettings {
  trainBiencoder: TrainBiencoderSettings;
  finetune: FinetuneSettings;
  trainGan: TrainGanSettings;
  generateFeatures: GenerateFeaturesSettings;
  evaluateBiencoder: EvaluateBiencoderSettings;
  trainCrossencoder: TrainCrossencoderSettings;
  evaluateCrossencoder: EvaluateCrossencoderSettings;
  pretrainSynonyms: PretrainSynonymsSettings;
  prepare: PrepareSettings;
  importPubtator: ImportPubtatorSettings;
}
