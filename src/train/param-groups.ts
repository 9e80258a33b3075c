// Which parameters the original trains (--type_optimization) and which get weight decay,
// as masks over one flat parameter buffer. Semantics: blink/common/optimizer.py (see README.md).

/** One tensor of a flat parameter buffer: `offset` and sizes are in elements, not bytes. */
export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number;
}

export const TYPE_OPTIMIZATIONS = ['additional_layers', 'top_layer', 'top4_layers', 'all_encoder_layers', 'all'] as const;
export type TypeOptimization = (typeof TYPE_OPTIMIZATIONS)[number];

/** Substrings that exclude a parameter from weight decay (the original's `no_decay`). */
export const NO_DECAY_SUBSTRINGS = ['bias', 'gamma', 'beta'] as const;

/** Weight decay of the decayed group (the other group has 0). */
export const WEIGHT_DECAY = 0.01;

export function isTypeOptimization(s: string): s is TypeOptimization {
  return (TYPE_OPTIMIZATIONS as readonly string[]).includes(s);
}

/**
 * Name substrings selecting the trained parameters. The original hard-codes BERT-base's 12 layers
 * (layer 11 for top_layer, 8..11 for top4_layers); here the top layers are counted from
 * `numLayers`, which gives the original's patterns for 12 layers.
 */
export function trainablePatterns(type: TypeOptimization, numLayers: number): string[] {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`numLayers must be an integer >= 1, got ${numLayers}`);
  const top = numLayers - 1;
  switch (type) {
    case 'additional_layers':
      return ['additional'];
    case 'top_layer':
      return ['additional', `bert_model.encoder.layer.${top}.`];
    case 'top4_layers': {
      const p = ['additional', `bert_model.encoder.layer.${top}.`];
      for (let l = top - 1; l >= Math.max(0, top - 3); l--) p.push(`encoder.layer.${l}.`);
      return p;
    }
    case 'all_encoder_layers':
      return ['additional', 'bert_model.encoder.layer'];
    case 'all':
      return ['additional', 'bert_model.encoder.layer', 'bert_model.embeddings'];
  }
}

/** Resolve a --type_optimization value, with the list of valid ones in the error (the original only printed it). */
export function parseTypeOptimization(s: string): TypeOptimization {
  if (!isTypeOptimization(s)) throw new Error(`--type_optimization must be one of ${TYPE_OPTIMIZATIONS.join(', ')}; got "${s}"`);
  return s;
}

export function isTrainable(name: string, patterns: readonly string[] | null): boolean {
  return patterns === null || patterns.some((p) => name.includes(p));
}

/** Substring test as the original: `LayerNorm.bias` is not decayed, but `LayerNorm.weight` is. */
export function isDecayed(name: string): boolean {
  return !NO_DECAY_SUBSTRINGS.some((s) => name.includes(s));
}

export function entrySize(e: ParamEntry): number {
  return e.shape.reduce((a, b) => a * b, 1);
}

export interface ParamMasks {
  /** 1 where the element's tensor gets weight decay 0.01, else 0 (independent of `trainable`). */
  decay: Float32Array;
  /** 1 where the element's tensor is updated by the optimizer, else 0. */
  trainable: Float32Array;
  /** Names per group, in layout order, for the log (the original prints them before training). */
  withDecay: string[];
  withoutDecay: string[];
  frozen: string[];
  /** Element counts. */
  trainableElements: number;
  totalElements: number;
}

export interface MaskOptions {
  /** Substrings from {@link trainablePatterns}, or null to train every parameter (G and D of the GAN). */
  patterns: readonly string[] | null;
  /** Length of the flat buffer; default: the end of the last tensor. */
  totalElements?: number;
}

/** Check that entries lie inside the buffer and do not overlap; returns the buffer length. */
export function checkLayout(layout: readonly ParamEntry[], totalElements?: number): number {
  const seen = new Set<string>();
  let end = 0;
  for (const e of layout) {
    if (seen.has(e.name)) throw new Error(`parameter layout: duplicate name ${e.name}`);
    seen.add(e.name);
    if (!Number.isInteger(e.offset) || e.offset < 0) throw new Error(`parameter layout: ${e.name} has a bad offset ${e.offset}`);
    if (e.shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new Error(`parameter layout: ${e.name} has a bad shape [${e.shape.join(', ')}]`);
    end = Math.max(end, e.offset + entrySize(e));
  }
  const total = totalElements ?? end;
  if (end > total) throw new Error(`parameter layout: tensors end at ${end}, beyond the buffer of ${total} elements`);
  const sorted = [...layout].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.offset + entrySize(prev) > sorted[i]!.offset && entrySize(sorted[i]!) > 0) {
      throw new Error(`parameter layout: ${prev.name} overlaps ${sorted[i]!.name}`);
    }
  }
  return total;
}

/** Build the weight-decay and trainable masks over the flat buffer described by `layout`. */
export function buildParamMasks(layout: readonly ParamEntry[], opts: MaskOptions): ParamMasks {
  const total = checkLayout(layout, opts.totalElements);
  const decay = new Float32Array(total);
  const trainable = new Float32Array(total);
  const withDecay: string[] = [];
  const withoutDecay: string[] = [];
  const frozen: string[] = [];
  let trainableElements = 0;
  for (const e of layout) {
    const n = entrySize(e);
    const d = isDecayed(e.name);
    if (d) decay.fill(1, e.offset, e.offset + n);
    if (isTrainable(e.name, opts.patterns)) {
      trainable.fill(1, e.offset, e.offset + n);
      trainableElements += n;
      (d ? withDecay : withoutDecay).push(e.name);
    } else {
      frozen.push(e.name);
    }
  }
  return { decay, trainable, withDecay, withoutDecay, frozen, trainableElements, totalElements: total };
}

/** The original's `ellipse`: the first `max` names, then "...and N more". */
export function ellipsis(names: readonly string[], max = 5, sep = ' , '): string {
  if (max > 0 && names.length > max) return [...names.slice(0, max), `...and ${names.length - max} more`].join(sep);
  return names.join(sep);
}

/**
 * Contiguous [start, end) element ranges where `mask` is non-zero, so an optimizer that takes a
 * decay mask but no freeze mask (native adamw) can be run on the trained ranges only: a frozen
 * element must see neither the Adam update nor the decay.
 */
export function maskRanges(mask: Float32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = -1;
  for (let i = 0; i <= mask.length; i++) {
    const on = i < mask.length && mask[i] !== 0;
    if (on && start < 0) start = i;
    else if (!on && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  return out;
}
