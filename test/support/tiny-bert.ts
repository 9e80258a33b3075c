// The 2-layer, 16-wide BERT config the loss tests check gradients on (small enough for finite
// differences); each test says its pooler and dropout.
import type { BertConfig } from '../../src/models/bert.js';

export function tinyBertConfig(o: { pooler: boolean; dropout: number }): BertConfig {
  return {
    vocabSize: 40,
    hiddenSize: 16,
    numLayers: 2,
    numHeads: 2,
    intermediateSize: 32,
    maxPositions: 16,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    pooler: o.pooler,
    hiddenDropout: o.dropout,
    attentionDropout: o.dropout,
  };
}
