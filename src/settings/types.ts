// The typed settings of each stage, as users write them (every field with a default is optional).
// Field meanings and defaults: src/settings/fields.ts (one table); stage overrides: stages.ts.
import type { ImportOptions } from '../data/import-pubtator.js';

/** `cpu`, `cuda`, or `auto` (CUDA when this build has it and a device exists). */
export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
/** f32, or bf16 mixed precision (CUDA; inference also on a CPU with AVX512_BF16; f32 master weights). */
export type Precision = 'f32' | 'bf16';
export type TypeOptimization = 'additional_layers' | 'top_layer' | 'top4_layers' | 'all_encoder_layers' | 'all';
/** Splits an evaluation reads: `valid` (= `val`) reads val.jsonl. */
export type EvalMode = 'train' | 'valid' | 'val' | 'dev' | 'test' | 'test_seen' | 'test_unseen';

/** Where a model-running stage runs. */
export interface RunSettings {
  /** Default `auto`. */
  device?: DeviceChoice;
  /** CPU threads (0 = all cores; default: BIOFEG_THREADS or all cores). */
  threads?: number;
  /** Default `f32`; `bf16` needs CUDA (training) or CUDA or a CPU with AVX512_BF16 (inference). */
  precision?: Precision;
  /** Default 52313 (the original's). */
  seed?: number;
}

/** Which bi-encoder a stage builds or loads, and its input windows. */
export interface ModelSettings extends RunSettings {
  /** An HF BERT folder or a built-in size (`tiny`, `small`, `base`); default `bert-base-uncased`. */
  bertModel?: string;
  /** A bi-encoder checkpoint folder, or a state_dict file (e.g. the original's pytorch_model.bin). */
  pathToModel?: string;
  /** A WordPiece vocab.txt (lower-cased) instead of the model's tokenizer. */
  vocab?: string;
  /** Linear projection on top of BERT; default: the checkpoint's, else false. */
  addLinear?: boolean;
  /** Its output size (default 1, the original's). */
  outDim?: number;
  /** BERT dropout instead of the config's. */
  dropout?: number;
  /** Mention window in WordPiece tokens (default 128). */
  maxContextLength?: number;
  /** Entity window in WordPiece tokens (default 128). */
  maxCandLength?: number;
}

/** The prepared data a stage reads. */
export interface DataSettings {
  /** The prepared folder (train/val/test.jsonl), or with `hard` training a `top<k>_candidates` folder. */
  dataPath: string;
  /** Default `<dataPath>/../documents/all_documents.json`. */
  entityDictPath?: string;
  /** Where everything is written. */
  outputPath: string;
}

/** The optimisation loop's settings (the original's flags and defaults). */
export interface LoopSettings {
  learningRate?: number;
  numTrainEpochs?: number;
  trainBatchSize?: number;
  evalBatchSize?: number;
  gradientAccumulationSteps?: number;
  warmupProportion?: number;
  maxGradNorm?: number;
  typeOptimization?: TypeOptimization;
  printInterval?: number;
  evalInterval?: number;
  shuffle?: boolean;
  /** Continue from the newest checkpoint in `outputPath`. */
  resume?: boolean;
  /**
   * A run on several ranks (mpirun): the gradient all-reduce's bucket size in MiB; buckets are
   * sent while the backward runs (default 25, PyTorch DDP's bucket_cap_mb); 0 sends each buffer
   * after the backward.
   */
  bucketCapMb?: number;
}

/** {@link trainBiencoder}: the original's train_biencoder.py, or with `hard` train_biencoder_hard.py. */
export interface TrainBiencoderSettings extends ModelSettings, DataSettings, LoopSettings {
  /** Train on saved top-k candidate files (evaluateBiencoder with saveTopkResult). */
  hard?: boolean;
  /** In-batch negatives of a run launched on several ranks (mpirun): {@link DistNegatives}; default 'local'. */
  distNegatives?: DistNegatives;
}

/**
 * Which in-batch negatives a rank of a data-parallel run scores against: 'local', its own shard of
 * the global batch (as PyTorch DDP); 'global', the all-gathered batch (the single-process loss).
 */
export type DistNegatives = 'local' | 'global';

/** {@link finetune}: finetune.py / finetune_hard.py (default learning rate 1e-9, the original's). */
export interface FinetuneSettings extends ModelSettings, DataSettings, LoopSettings {
  /** The generateFeatures output folder, its candidates_* folder, or the .topk file. */
  generateDataPath: string;
  hard?: boolean;
  /** As {@link TrainBiencoderSettings.distNegatives}. */
  distNegatives?: DistNegatives;
}

/** {@link trainGan}: train_gan.py (default learning rate 5e-5). */
export interface TrainGanSettings extends ModelSettings, DataSettings {
  learningRate?: number;
  numTrainEpochs?: number;
  trainBatchSize?: number;
  evalBatchSize?: number;
  criticIters?: number;
  typeOptimization?: TypeOptimization;
  /** Save every n epochs (default 10) from epoch `startSaving` (default 20). */
  saveEvery?: number;
  startSaving?: number;
  shuffle?: boolean;
  mseWeight?: number;
  condGrad?: 'original' | 'critic';
  /** As {@link LoopSettings.bucketCapMb} (the encoder's gradients with condGrad 'critic'). */
  bucketCapMb?: number;
  resume?: boolean;
}

/** {@link generateFeatures}: generate_features.py / generate_features_hard.py. */
export interface GenerateFeaturesSettings extends ModelSettings, DataSettings {
  /** A GAN checkpoint file or a trainGan output folder. */
  ganPath: string;
  /** The trained bi-encoder (required). */
  pathToModel: string;
  /** The bi-encoder the GAN was trained with, when `pathToModel` is a later one. */
  ganBiencoder?: string;
  hard?: boolean;
  /** Candidates per feature with `hard` (default 64). */
  topK?: number;
  encodeBatchSize?: number;
  evalBatchSize?: number;
}

/** {@link evaluateBiencoder}: eval_biencoder.py. */
export interface EvaluateBiencoderSettings extends ModelSettings, DataSettings {
  /** Default `['valid']`. */
  modes?: EvalMode[];
  /** Default 64 (the original's 10 is too few for recall@64). */
  topK?: number;
  encodeBatchSize?: number;
  evalBatchSize?: number;
  /** Write `<outputPath>/top<k>_candidates/<mode>.topk`. */
  saveTopkResult?: boolean;
  poolDtype?: 'f32' | 'bf16';
  /**
   * Size cap (MiB) of the entity encodings cached in `outputPath` (`entity_embeddings.<hash>.f32`,
   * one per model evaluated there): least recently used removed first, the current model's always
   * kept. Default 4096; see also {@link cleanEmbeddingCache}.
   */
  embeddingCacheMb?: number;
  /** Tokenizer worker threads for token-cache builds. */
  workers?: number;
}

/** The cross-encoder's model, pairs and candidate files (the original's blink/crossencoder). */
export interface CrossencoderModelSettings extends RunSettings {
  /** An HF BERT folder or a built-in size to start from (default `bert-base-uncased`). */
  bertModel?: string;
  /** A cross-encoder checkpoint folder, or a state_dict file (e.g. the original's pytorch_model.bin). */
  pathToModel?: string;
  vocab?: string;
  /** Must be true (the default): without it the original's scores cannot be formed. */
  addLinear?: boolean;
  dropout?: number;
  /** Where segment ids start in a pair (default 128, the original's; 0: none). */
  maxContextLength?: number;
  /** Pairs are cut to this length (default 256). */
  maxSeqLength?: number;
  /** Pairs per BERT call; a batch's candidates go through in chunks beyond it (default: all). */
  maxPairsPerBatch?: number;
  /**
   * The candidate files: `<mode>.topk` (evaluateBiencoder with saveTopkResult) or the original's
   * `<mode>.t7`, e.g. the bi-encoder's `top64_candidates` folder.
   */
  dataPath: string;
  outputPath: string;
}

/** {@link trainCrossencoder}: train_cross.py. */
export interface TrainCrossencoderSettings extends CrossencoderModelSettings, LoopSettings {}

/** {@link evaluateCrossencoder}: normalized and unnormalized accuracy per mode. */
export interface EvaluateCrossencoderSettings extends CrossencoderModelSettings {
  /** The trained cross-encoder. */
  pathToModel: string;
  /** Default `['test']`. */
  modes?: EvalMode[];
  evalBatchSize?: number;
}

/**
 * {@link pretrainSynonyms}: SapBERT's self-alignment pretraining (cambridgeltl/sapbert
 * train/train.py with train/pretrain.sh's flags) on the names of a KB's concepts.
 */
export interface PretrainSynonymsSettings extends RunSettings {
  /** An HF BERT folder to start from, or a built-in size (`tiny`, `small`, `base`) from random weights. */
  bertModel?: string;
  /** A WordPiece vocab.txt (lower-cased) instead of the model's (a built-in size: default the built-in dataset's). */
  vocab?: string;
  /** BERT dropout instead of the config's (training only; config.json keeps the config's). */
  dropout?: number;
  /** The KB: JSONL `{ id, name, synonyms? }` lines, a MEDIC dictionary or a CTD diseases TSV. */
  kb?: string;
  /** Instead of `kb`: an import-pubtator folder (its import-report.json names the dictionary) or its processed/ folder. */
  dataPath?: string;
  /** The BERT folder written (HF layout), epoch_N/ checkpoints below it. */
  outputPath: string;
  /** Default 2e-5 (SapBERT's). */
  learningRate?: number;
  /** Default 0.01. */
  weightDecay?: number;
  /** Pairs a batch (default 256, SapBERT's). */
  trainBatchSize?: number;
  /** Default 1. */
  epochs?: number;
  /** Names cut to this many tokens, [CLS] and [SEP] included (default 25). */
  maxLength?: number;
  shuffle?: boolean;
  resume?: boolean;
  /** The in-batch pairs of a run on several ranks (mpirun): {@link DistNegatives}; default 'local'. */
  distNegatives?: DistNegatives;
  /** As {@link LoopSettings.bucketCapMb}. */
  bucketCapMb?: number;
}

/** {@link prepare}: the original's data_process.py, and optionally token caches. */
export interface PrepareSettings {
  /** arboEL layout: documents/ and mentions/. */
  dataDir: string;
  /** Default `<dataDir>/processed`. */
  outDir?: string;
  skipInvalid?: boolean;
  /** Also build token caches (`<outDir>/cache/`) with this vocab.txt ... */
  vocab?: string;
  /** ... or with the tokenizer saved in this folder. */
  tokenizer?: string;
  cased?: boolean;
  maxContextLength?: number;
  maxCandLength?: number;
  workers?: number;
}

/** {@link importPubtator}: PubTator corpora and a MEDIC/CTD dictionary to the arboEL layout. */
export type ImportPubtatorSettings = ImportOptions & {
  /** Fail when a split loses more than this share of its mentions (of the kept types); default 0.2. */
  maxDropped?: number;
};
