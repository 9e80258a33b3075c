// Every setting the library's stages take, once: its camelCase name, the original's snake_case
// flag, its kind and its default. The library validates settings objects against this table, the
// CLI declares its flags from it and the pipeline config is read through it, so a default is
// written here and nowhere else (a stage may override one: see stages.ts).

export type FieldKind = 'int' | 'float' | 'string' | 'bool' | 'enum' | 'list';

export interface FieldSpec {
  kind: FieldKind;
  /** The original's snake_case flag (BLINK params.py), or ours. */
  flag: string;
  /** The default (undefined: none; the field is then optional or required, see stages.ts). */
  default?: number | string | boolean | readonly string[];
  /** Smallest allowed value of an int or float. */
  min?: number;
  /** Allowed values of an enum, or of each item of a list. */
  values?: readonly string[];
  help: string;
  /** The value's name in help (`--top-k <k>`). */
  value?: string;
  /** Ours, not the original's: help says "(biofeg)". A bool with a `value` takes true/false on the command line; one without is a switch. */
  ours?: true;
}

/** Every field by its camelCase name. */
export const FIELDS = {
  // Where things are
  dataPath: { kind: 'string', flag: 'data_path', value: 'dir', help: 'folder of the processed data (train/val/test.jsonl)' },
  outputPath: { kind: 'string', flag: 'output_path', value: 'dir', help: 'output folder (models, logs, results)' },
  entityDictPath: {
    kind: 'string',
    flag: 'entity_dict_path',
    value: 'file',
    help: 'entity dictionary (default: <data_path>/../documents/all_documents.json)',
  },
  generateDataPath: { kind: 'string', flag: 'generate_data_path', value: 'dir', help: 'folder (or .topk file) of the generated features' },
  ganPath: {
    kind: 'string',
    flag: 'gan_path',
    value: 'path',
    help: 'GAN checkpoint file, or a train-gan output folder (its newest epoch_<i>)',
  },
  ganBiencoder: {
    kind: 'string',
    flag: 'gan_biencoder',
    value: 'path',
    ours: true,
    help: 'the bi-encoder the GAN was trained with, when --path_to_model is a later one (hard round)',
  },
  // The model
  bertModel: {
    kind: 'string',
    flag: 'bert_model',
    default: 'bert-base-uncased',
    value: 'dir',
    help: 'HF BERT folder, or a built-in size (tiny, small, base) for random initialisation',
  },
  pathToModel: {
    kind: 'string',
    flag: 'path_to_model',
    value: 'path',
    help: 'model to load (checkpoint folder or pytorch_model.bin / model.safetensors)',
  },
  vocab: {
    kind: 'string',
    flag: 'vocab',
    value: 'file',
    ours: true,
    help: "WordPiece vocab.txt; built-in sizes default to the built-in dataset's",
  },
  addLinear: { kind: 'bool', flag: 'add_linear', help: "add a linear projection on top of BERT (default: the checkpoint's, else false)" },
  outDim: { kind: 'int', flag: 'out_dim', default: 1, min: 1, value: 'n', help: 'output size of the --add_linear projection' },
  dropout: {
    kind: 'float',
    flag: 'dropout',
    min: 0,
    value: 'p',
    ours: true,
    help: "BERT hidden and attention dropout instead of the config's (0 helps a small model trained from scratch)",
  },
  maxContextLength: {
    kind: 'int',
    flag: 'max_context_length',
    default: 128,
    min: 4,
    value: 'n',
    help: 'maximum mention context length in WordPiece tokens',
  },
  maxCandLength: {
    kind: 'int',
    flag: 'max_cand_length',
    default: 128,
    min: 4,
    value: 'n',
    help: 'maximum entity description length in WordPiece tokens',
  },
  maxSeqLength: {
    kind: 'int',
    flag: 'max_seq_length',
    default: 256,
    min: 1,
    value: 'n',
    help: 'cross-encoder: a pair (context window, then the candidate window without [CLS]) is cut to n tokens',
  },
  maxPairsPerBatch: {
    kind: 'int',
    flag: 'max_pairs_per_batch',
    min: 1,
    value: 'n',
    ours: true,
    help: "cross-encoder: at most n (context, candidate) pairs per BERT call; a batch's k candidates go through in chunks (default: all at once)",
  },
  // Where it runs
  device: {
    kind: 'enum',
    flag: 'device',
    default: 'auto',
    values: ['cpu', 'cuda', 'auto'],
    value: 'device',
    ours: true,
    help: 'cpu, cuda or auto (CUDA when a device exists)',
  },
  threads: { kind: 'int', flag: 'threads', min: 0, value: 'n', ours: true, help: 'CPU threads (0 = all cores)' },
  precision: {
    kind: 'enum',
    flag: 'precision',
    default: 'f32',
    values: ['f32', 'bf16'],
    value: 'p',
    ours: true,
    help: 'BERT compute: f32, or bf16 mixed precision (CUDA; inference also on a CPU with AVX512_BF16; f32 master weights and checkpoints)',
  },
  seed: { kind: 'int', flag: 'seed', default: 52313, value: 'n', help: 'random seed' },
  // Training
  learningRate: { kind: 'float', flag: 'learning_rate', default: 3e-5, min: 0, value: 'lr', help: 'peak learning rate of AdamW' },
  numTrainEpochs: { kind: 'int', flag: 'num_train_epochs', default: 1, min: 1, value: 'n', help: 'training epochs' },
  trainBatchSize: {
    kind: 'int',
    flag: 'train_batch_size',
    default: 8,
    min: 1,
    value: 'n',
    help: 'training batch size (effective; divided by --gradient_accumulation_steps per step)',
  },
  evalBatchSize: { kind: 'int', flag: 'eval_batch_size', default: 8, min: 1, value: 'n', help: 'evaluation batch size' },
  encodeBatchSize: { kind: 'int', flag: 'encode_batch_size', default: 8, min: 1, value: 'n', help: 'batch size for encoding entities' },
  gradientAccumulationSteps: {
    kind: 'int',
    flag: 'gradient_accumulation_steps',
    default: 1,
    min: 1,
    value: 'n',
    help: 'micro-batches accumulated per update',
  },
  warmupProportion: {
    kind: 'float',
    flag: 'warmup_proportion',
    default: 0.1,
    min: 0,
    value: 'p',
    help: 'share of the updates with linear warmup',
  },
  maxGradNorm: { kind: 'float', flag: 'max_grad_norm', default: 1.0, min: 0, value: 'x', help: 'gradient clipping norm' },
  typeOptimization: {
    kind: 'enum',
    flag: 'type_optimization',
    default: 'all_encoder_layers',
    value: 'type',
    values: ['additional_layers', 'top_layer', 'top4_layers', 'all_encoder_layers', 'all'],
    help: 'trained layers',
  },
  printInterval: { kind: 'int', flag: 'print_interval', default: 1000, min: 1, value: 'n', help: 'log the average loss every n updates' },
  evalInterval: { kind: 'int', flag: 'eval_interval', default: 1000, min: 1, value: 'n', help: 'evaluate on val every n updates' },
  shuffle: { kind: 'bool', flag: 'shuffle', default: true, value: 'bool', help: 'shuffle the training data (true/false)' },
  hard: {
    kind: 'bool',
    flag: 'hard',
    default: false,
    ours: true,
    help: "hard negatives: saved top-k candidate files (train, finetune) or each feature's top-k (generate)",
  },
  distNegatives: {
    kind: 'enum',
    flag: 'dist_negatives',
    // No default here (the trainer's is 'local'): an unset field stays out of pipeline fingerprints,
    // so run folders made before this setting existed keep their finished stages.
    values: ['local', 'global'],
    value: 'which',
    ours: true,
    help: "in-batch negatives under mpirun: each rank's own shard (local, the default) or the all-gathered global batch (global)",
  },
  bucketCapMb: {
    kind: 'float',
    flag: 'bucket_cap_mb',
    // No default here (the trainers' is 25): an unset field stays out of pipeline fingerprints.
    min: 0,
    value: 'MiB',
    ours: true,
    help: "under mpirun: gradient all-reduce bucket size, sent during the backward (default 25, as DDP's bucket_cap_mb; 0: after the backward)",
  },
  resume: {
    kind: 'bool',
    flag: 'resume',
    default: false,
    ours: true,
    help: 'continue from the newest checkpoint in the output folder (last/ or epoch_N/)',
  },
  // GAN
  criticIters: {
    kind: 'int',
    flag: 'critic_iters',
    default: 5,
    min: 1,
    value: 'n',
    help: 'critic (discriminator) steps per generator step',
  },
  saveEvery: { kind: 'int', flag: 'save_every', default: 10, min: 1, value: 'n', ours: true, help: 'GAN: save every n epochs' },
  startSaving: {
    kind: 'int',
    flag: 'start_saving',
    default: 20,
    min: 1,
    value: 'n',
    ours: true,
    help: 'GAN: first epoch count to save at',
  },
  mseWeight: {
    kind: 'float',
    flag: 'mse_weight',
    default: 0,
    min: 0,
    value: 'w',
    ours: true,
    help: 'weight of MSE(fake, real) in the generator loss (the original: 0, logged only)',
  },
  condGrad: {
    kind: 'enum',
    flag: 'cond_grad',
    default: 'original',
    values: ['original', 'critic'],
    value: 'which',
    ours: true,
    help: "what trains E: 'original' = the penalty's gradient only, which is zero (E only decays), 'critic' = the whole critic loss through D's condition input",
  },
  // Evaluation
  topK: { kind: 'int', flag: 'top_k', default: 10, min: 1, value: 'k', help: 'candidates retrieved per mention' },
  modes: {
    kind: 'list',
    flag: 'mode',
    default: ['valid'],
    values: ['train', 'valid', 'val', 'dev', 'test', 'test_seen', 'test_unseen'],
    value: 'modes',
    help: 'comma-separated splits: train, valid, test, test_seen, test_unseen',
  },
  saveTopkResult: { kind: 'bool', flag: 'save_topk_result', default: false, help: 'save the top-k candidates of every mention' },
  poolDtype: {
    kind: 'enum',
    flag: 'pool_dtype',
    default: 'f32',
    values: ['f32', 'bf16'],
    value: 'dtype',
    ours: true,
    help: 'entity pool dtype (bf16 halves the pool)',
  },
  embeddingCacheMb: {
    kind: 'int',
    flag: 'embedding_cache_mb',
    default: 4096,
    min: 0,
    value: 'MiB',
    ours: true,
    help: "keep the entity_embeddings.<hash>.f32 files of the output folder within this size, least recently used removed first (the current model's always kept; 0: only it)",
  },
  workers: {
    kind: 'int',
    flag: 'workers',
    min: 0,
    value: 'n',
    ours: true,
    help: 'tokenizer worker threads when a token cache is built (0 = this thread)',
  },
  // Synonym pretraining (SapBERT's train.py flags)
  kb: {
    kind: 'string',
    flag: 'kb',
    value: 'file',
    ours: true,
    help: 'the KB whose names are paired: JSONL { id, name, synonyms? }, a MEDIC dictionary or a CTD diseases TSV (.gz too)',
  },
  weightDecay: { kind: 'float', flag: 'weight_decay', default: 0.01, min: 0, value: 'w', help: 'AdamW weight decay' },
  epochs: { kind: 'int', flag: 'epoch', default: 1, min: 1, value: 'n', help: 'training epochs' },
  maxLength: {
    kind: 'int',
    flag: 'max_length',
    default: 25,
    min: 3,
    value: 'n',
    help: 'names are cut to n WordPiece tokens ([CLS] and [SEP] included)',
  },
  // Data preparation (prepare, import-pubtator)
  dataDir: { kind: 'string', flag: 'data_dir', value: 'dir', ours: true, help: 'folder with documents/ and mentions/ (arboEL layout)' },
  outDir: { kind: 'string', flag: 'out', value: 'dir', ours: true, help: 'output folder' },
  skipInvalid: {
    kind: 'bool',
    flag: 'skip_invalid',
    default: false,
    ours: true,
    help: 'skip and count mentions the original would reject, instead of failing',
  },
  tokenizer: {
    kind: 'string',
    flag: 'tokenizer',
    value: 'dir',
    ours: true,
    help: 'a folder with a saved tokenizer (tokenizer.json or vocab.txt)',
  },
  cased: { kind: 'bool', flag: 'cased', default: false, ours: true, help: 'with --vocab: do not lowercase' },
  train: { kind: 'string', flag: 'train', value: 'file', ours: true, help: 'PubTator training corpus' },
  val: { kind: 'string', flag: 'val', value: 'file', ours: true, help: 'PubTator validation corpus' },
  test: { kind: 'string', flag: 'test', value: 'file', ours: true, help: 'PubTator test corpus' },
  dictionary: {
    kind: 'string',
    flag: 'dictionary',
    value: 'file',
    ours: true,
    help: 'MEDIC `ID|alt||name|syn` file or CTD diseases TSV (.tsv or .tsv.gz)',
  },
  types: {
    kind: 'list',
    flag: 'types',
    value: 'list',
    ours: true,
    help: 'comma-separated mention types to keep, e.g. Disease (default: all)',
  },
  maxDropped: {
    kind: 'float',
    flag: 'max_dropped',
    default: 0.2,
    min: 0,
    value: 'share',
    ours: true,
    help: 'fail when a split loses more than this share of its mentions (of the kept types) to the import policies',
  },
  composite: {
    kind: 'enum',
    flag: 'composite',
    default: 'first',
    values: ['first', 'skip'],
    value: 'policy',
    ours: true,
    help: 'composite ids A|B, A+B: "first" (link to the first known id) or "skip"',
  },
} as const satisfies Record<string, FieldSpec>;

export type FieldName = keyof typeof FIELDS;
