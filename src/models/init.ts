// Random initialisation as HF BertPreTrainedModel._init_weights: weights and embeddings
// N(0, 0.02), biases 0, LayerNorm weight 1; and the built-in sizes of the benches and demo.
import type { BertConfig, ParamEntry } from './bert.js';
import { mulberry32 } from './rng.js';

export const BERT_SIZES = {
  tiny: { hiddenSize: 128, numLayers: 2, numHeads: 2, intermediateSize: 512 },
  small: { hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024 },
  base: { hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072 },
} as const;
export type BertSize = keyof typeof BERT_SIZES;

export function isBertSize(s: string): s is BertSize {
  return Object.hasOwn(BERT_SIZES, s);
}

/** A BertConfig of a built-in size for a vocabulary. */
export function sizedConfig(size: BertSize, vocabSize: number, maxPositions = 512): BertConfig {
  return {
    vocabSize,
    maxPositions,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    pooler: true,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    ...BERT_SIZES[size],
  };
}

/** Seeded normal draws (mulberry32 + Box-Muller): the same seed gives the same model everywhere. */
export function gaussian(seed: number): () => number {
  const r = mulberry32(seed);
  const u = () => r() + 0.5 / 4294967296; // never 0: log(0) would be -Infinity
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** The flat parameter vector of a freshly initialised BERT with this layout. */
export function initBertParams(layout: readonly ParamEntry[], total: number, seed: number, std = 0.02): Float32Array {
  const g = gaussian(seed);
  const out = new Float32Array(total);
  for (const e of layout) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const v = out.subarray(e.offset, e.offset + n);
    if (e.name.endsWith('LayerNorm.weight')) v.fill(1);
    else if (e.name.endsWith('.bias')) v.fill(0);
    else for (let i = 0; i < n; i++) v[i] = std * g();
  }
  return out;
}

/** HF config.json fields for a BertConfig. */
export function hfConfigOf(c: BertConfig): Record<string, unknown> {
  return {
    model_type: 'bert',
    architectures: ['BertModel'],
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    hidden_act: 'gelu',
    hidden_dropout_prob: c.hiddenDropout,
    attention_probs_dropout_prob: c.attentionDropout,
    pad_token_id: 0,
    initializer_range: 0.02,
  };
}
