import { describe, expect, it } from 'vitest';
import {
  buildParamMasks,
  ellipsis,
  maskRanges,
  isDecayed,
  parseTypeOptimization,
  trainablePatterns,
  type ParamEntry,
} from '../../src/train/param-groups.js';

/** A synthetic bi-encoder layout: 2 towers, `layers` encoder layers, tiny shapes, packed in order. */
function layout(layers: number, addLinear: boolean): ParamEntry[] {
  const names: Array<[string, number[]]> = [];
  for (const tower of ['context_encoder', 'cand_encoder']) {
    const b = `${tower}.bert_model`;
    names.push(
      [`${b}.embeddings.word_embeddings.weight`, [5, 2]],
      [`${b}.embeddings.LayerNorm.weight`, [2]],
      [`${b}.embeddings.LayerNorm.bias`, [2]],
    );
    for (let l = 0; l < layers; l++) {
      names.push(
        [`${b}.encoder.layer.${l}.attention.self.query.weight`, [2, 2]],
        [`${b}.encoder.layer.${l}.attention.self.query.bias`, [2]],
        [`${b}.encoder.layer.${l}.output.LayerNorm.weight`, [2]],
      );
    }
    names.push([`${b}.pooler.dense.weight`, [2, 2]], [`${b}.pooler.dense.bias`, [2]]);
    if (addLinear) names.push([`${tower}.additional_linear.weight`, [1, 2]], [`${tower}.additional_linear.bias`, [1]]);
  }
  let off = 0;
  return names.map(([name, shape]) => {
    const e = { name, shape, offset: off };
    off += shape.reduce((a, b) => a * b, 1);
    return e;
  });
}

function trainedNames(l: ParamEntry[], type: string, layers: number): string[] {
  const m = buildParamMasks(l, { patterns: trainablePatterns(parseTypeOptimization(type), layers) });
  return l.filter((e) => m.trainable[e.offset] === 1).map((e) => e.name);
}

describe('trainablePatterns', () => {
  it('equals the original strings for 12 layers', () => {
    expect(trainablePatterns('top_layer', 12)).toEqual(['additional', 'bert_model.encoder.layer.11.']);
    expect(trainablePatterns('top4_layers', 12)).toEqual([
      'additional',
      'bert_model.encoder.layer.11.',
      'encoder.layer.10.',
      'encoder.layer.9.',
      'encoder.layer.8.',
    ]);
    expect(trainablePatterns('all', 12)).toEqual(['additional', 'bert_model.encoder.layer', 'bert_model.embeddings']);
  });
  it('rejects unknown types listing the valid ones', () => {
    expect(() => parseTypeOptimization('everything')).toThrow(
      /additional_layers, top_layer, top4_layers, all_encoder_layers, all; got "everything"/,
    );
  });
});

describe('buildParamMasks on a synthetic 12-layer layout', () => {
  const l = layout(12, true);

  it('all_encoder_layers trains encoder layers and additional_linear, not embeddings or pooler', () => {
    const t = trainedNames(l, 'all_encoder_layers', 12);
    expect(t).toHaveLength(2 * (12 * 3 + 2));
    expect(t.some((n) => n.includes('embeddings') || n.includes('pooler'))).toBe(false);
  });

  it('top_layer trains layer 11 only (not 1, 10 or 110-like prefixes), plus additional', () => {
    expect(trainedNames(l, 'top_layer', 12)).toEqual([
      'context_encoder.bert_model.encoder.layer.11.attention.self.query.weight',
      'context_encoder.bert_model.encoder.layer.11.attention.self.query.bias',
      'context_encoder.bert_model.encoder.layer.11.output.LayerNorm.weight',
      'context_encoder.additional_linear.weight',
      'context_encoder.additional_linear.bias',
      'cand_encoder.bert_model.encoder.layer.11.attention.self.query.weight',
      'cand_encoder.bert_model.encoder.layer.11.attention.self.query.bias',
      'cand_encoder.bert_model.encoder.layer.11.output.LayerNorm.weight',
      'cand_encoder.additional_linear.weight',
      'cand_encoder.additional_linear.bias',
    ]);
  });

  it('top4_layers trains layers 8..11; all adds the embeddings but never the pooler', () => {
    const t4 = trainedNames(l, 'top4_layers', 12);
    const layersSeen = [...new Set(t4.map((n) => /layer\.(\d+)\./.exec(n)?.[1]).filter((x) => x !== undefined))].sort();
    expect(layersSeen).toEqual(['10', '11', '8', '9']);
    const all = trainedNames(l, 'all', 12);
    expect(all).toHaveLength(l.length - 4); // 2 pooler tensors per tower
    expect(all.some((n) => n.includes('pooler'))).toBe(false);
  });

  it('additional_layers with no additional_linear trains nothing', () => {
    const l2 = layout(12, false);
    const m = buildParamMasks(l2, { patterns: trainablePatterns('additional_layers', 12) });
    expect(m.trainableElements).toBe(0);
    expect(m.frozen).toHaveLength(l2.length);
  });

  it('decay mask: no decay for *bias (incl. LayerNorm.bias), decay for LayerNorm.weight as the original', () => {
    expect(isDecayed('x.embeddings.LayerNorm.weight')).toBe(true);
    expect(isDecayed('x.embeddings.LayerNorm.bias')).toBe(false);
    expect(isDecayed('old.LayerNorm.gamma')).toBe(false);
    expect(isDecayed('old.LayerNorm.beta')).toBe(false);
    const m = buildParamMasks(l, { patterns: null });
    // Per tower: word_embeddings 10 + LN.w 2 + layers 12*(4+2) + pooler.w 4 + add.w 2 = 90 decayed; LN.b 2 + 12*2 + pooler.b 2 + add.b 1 = 29 not.
    let decayed = 0;
    for (const v of m.decay) decayed += v;
    expect(decayed).toBe(2 * 90);
    expect(m.totalElements).toBe(2 * (90 + 29));
    expect(m.trainableElements).toBe(m.totalElements);
    expect(m.withoutDecay).toContain('cand_encoder.additional_linear.bias');
  });

  it('masks cover exactly each tensor range of the flat buffer', () => {
    const m = buildParamMasks(l, { patterns: trainablePatterns('top_layer', 12) });
    const q = l.find((e) => e.name === 'context_encoder.bert_model.encoder.layer.11.attention.self.query.weight')!;
    expect(Array.from(m.trainable.subarray(q.offset - 1, q.offset + 5))).toEqual([0, 1, 1, 1, 1, 1]); // previous tensor is layer 10's LN.weight
    expect(Array.from(m.decay.subarray(q.offset + 4, q.offset + 6))).toEqual([0, 0]); // the query bias follows
  });
});

describe('layout checks and small models', () => {
  it('counts top layers from the model depth (2 layers: top_layer -> layer 1, top4 -> 0 and 1)', () => {
    const l = layout(2, false);
    expect(trainedNames(l, 'top_layer', 2).every((n) => n.includes('encoder.layer.1.'))).toBe(true);
    expect(trainedNames(l, 'top4_layers', 2)).toHaveLength(2 * 2 * 3);
  });
  it('rejects overlapping, duplicate and out-of-buffer tensors', () => {
    expect(() =>
      buildParamMasks(
        [
          { name: 'a', shape: [4], offset: 0 },
          { name: 'b', shape: [2], offset: 3 },
        ],
        { patterns: null },
      ),
    ).toThrow(/a overlaps b/);
    expect(() =>
      buildParamMasks(
        [
          { name: 'a', shape: [1], offset: 0 },
          { name: 'a', shape: [1], offset: 1 },
        ],
        { patterns: null },
      ),
    ).toThrow(/duplicate name a/);
    expect(() => buildParamMasks([{ name: 'a', shape: [4], offset: 0 }], { patterns: null, totalElements: 3 })).toThrow(
      /beyond the buffer/,
    );
  });
  it('leaves gaps in a padded buffer at 0 in both masks', () => {
    const m = buildParamMasks([{ name: 'w', shape: [2], offset: 2 }], { patterns: null, totalElements: 6 });
    expect(Array.from(m.decay)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(Array.from(m.trainable)).toEqual([0, 0, 1, 1, 0, 0]);
  });
  it('maskRanges merges adjacent trained tensors into contiguous ranges', () => {
    expect(maskRanges(Float32Array.from([0, 1, 1, 0, 0, 1, 0, 1]))).toEqual([
      [1, 3],
      [5, 6],
      [7, 8],
    ]);
    expect(maskRanges(new Float32Array(3))).toEqual([]);
    // top_layer, per tower: layer 11 (4+2+2 elements), then the frozen pooler (6), then additional_linear (2+1).
    const l = layout(12, true);
    const m = buildParamMasks(l, { patterns: trainablePatterns('top_layer', 12) });
    const r = maskRanges(m.trainable);
    expect(r).toHaveLength(4);
    expect(r.map(([a, b]) => b - a)).toEqual([8, 3, 8, 3]);
  });

  it('ellipsis as the original log', () => {
    expect(ellipsis(['a', 'b', 'c'], 2)).toBe('a , b , ...and 1 more');
    expect(ellipsis(['a', 'b'], 5)).toBe('a , b');
  });
});
