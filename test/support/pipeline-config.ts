// The tiny whole-schedule config shared by the pipeline tests (CPU and CUDA): a subset of the
// built-in dataset, the tiny BERT, one epoch per training stage. `over` replaces top-level keys
// and is merged one level into the stage sections.
type Section = Record<string, unknown>;

export function tinyPipelineConfig(
  d: { processed: string; entities: string },
  outputPath: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const base: Record<string, unknown> = {
    data_path: d.processed,
    output_path: outputPath,
    entity_dict_path: d.entities,
    bert_model: 'tiny',
    device: 'cpu',
    max_context_length: 32,
    max_cand_length: 48,
    silent: true,
    top_k: 16,
    hard_top_k: 4,
    biencoder: { learning_rate: 5e-4, train_batch_size: 16, eval_batch_size: 8, type_optimization: 'all', dropout: 0 },
    eval: { encode_batch_size: 64, eval_batch_size: 16 },
    gan: { num_train_epochs: 2, save_every: 1, start_saving: 2, train_batch_size: 16, eval_batch_size: 8, critic_iters: 2 },
    generate: { eval_batch_size: 64, encode_batch_size: 64 },
    finetune: { learning_rate: 1e-4, train_batch_size: 32, eval_batch_size: 8, type_optimization: 'all' },
    biencoder_hard: { learning_rate: 2e-5, train_batch_size: 4, eval_batch_size: 4, type_optimization: 'all' },
    finetune_hard: { learning_rate: 1e-4, train_batch_size: 8, eval_batch_size: 8, type_optimization: 'all' },
  };
  for (const [k, v] of Object.entries(over)) {
    const cur = base[k];
    base[k] = cur && typeof cur === 'object' && v && typeof v === 'object' ? { ...(cur as Section), ...(v as Section) } : v;
  }
  return base;
}
