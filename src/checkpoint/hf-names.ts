/**
 * Parameter names: Hugging Face BertModel layout, the `bert.` prefix of task-head checkpoints,
 * old TF-style LayerNorm names, and the BLINK / BioFEG module prefixes.
 *
 * BLINK wraps each BERT in a `BertEncoder` module whose BERT is `bert_model` and whose optional
 * projection is `additional_linear` (nn.Linear(hidden, out_dim): weight [out_dim, hidden], bias
 * [out_dim]); the bi-encoder holds two of them, `context_encoder` and `cand_encoder`, the
 * cross-encoder one, `encoder`. So a bi-encoder state_dict has, in this order,
 *   context_encoder.bert_model.<HF name>..., context_encoder.additional_linear.{weight,bias},
 *   cand_encoder.bert_model.<HF name>...,    cand_encoder.additional_linear.{weight,bias}.
 */
import { CheckpointError, shapeString } from './types.js';

export interface ParamSpec {
  name: string;
  shape: number[];
}

export interface BertDims {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  /** Include pooler.dense (default true). */
  pooler?: boolean;
}

export const BERT_PREFIX = 'bert.';

/** Buffers some transformers versions save next to the parameters; not model weights. */
export const BERT_BUFFERS: readonly string[] = ['embeddings.position_ids', 'embeddings.token_type_ids'];

/** HF BertModel parameters in registration order (the order of its state_dict). */
export function bertParamSpecs(d: BertDims): ParamSpec[] {
  const { vocabSize: V, hiddenSize: H, intermediateSize: I } = d;
  const out: ParamSpec[] = [];
  const add = (name: string, ...shape: number[]): void => {
    out.push({ name, shape });
  };
  const linear = (name: string, outF: number, inF: number): void => {
    add(`${name}.weight`, outF, inF);
    add(`${name}.bias`, outF);
  };
  const norm = (name: string): void => {
    add(`${name}.weight`, H);
    add(`${name}.bias`, H);
  };
  add('embeddings.word_embeddings.weight', V, H);
  add('embeddings.position_embeddings.weight', d.maxPositions, H);
  add('embeddings.token_type_embeddings.weight', d.typeVocabSize, H);
  norm('embeddings.LayerNorm');
  for (let i = 0; i < d.numLayers; i++) {
    const l = `encoder.layer.${i}`;
    linear(`${l}.attention.self.query`, H, H);
    linear(`${l}.attention.self.key`, H, H);
    linear(`${l}.attention.self.value`, H, H);
    linear(`${l}.attention.output.dense`, H, H);
    norm(`${l}.attention.output.LayerNorm`);
    linear(`${l}.intermediate.dense`, I, H);
    linear(`${l}.output.dense`, H, I);
    norm(`${l}.output.LayerNorm`);
  }
  if (d.pooler !== false) linear('pooler.dense', H, H);
  return out;
}

const BERT_NAME = new RegExp(
  '^(?:embeddings\\.(?:word|position|token_type)_embeddings\\.weight' +
    '|embeddings\\.LayerNorm\\.(?:weight|bias)' +
    '|encoder\\.layer\\.(?:0|[1-9][0-9]{0,3})\\.(?:attention\\.self\\.(?:query|key|value)|attention\\.output\\.dense|intermediate\\.dense|output\\.dense|attention\\.output\\.LayerNorm|output\\.LayerNorm)\\.(?:weight|bias)' +
    '|pooler\\.dense\\.(?:weight|bias))$',
);

/** Whether `name` (HF spelling, no prefix) is a BertModel parameter of some size, or one of its buffers. */
export function isBertParamName(name: string): boolean {
  return BERT_NAME.test(name) || BERT_BUFFERS.includes(name);
}

/** `LayerNorm.gamma` / `LayerNorm.beta` (TF-era checkpoints) -> `LayerNorm.weight` / `.bias`. */
export function modernizeName(name: string): string {
  return name.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
}

/** True when the names are a task-head checkpoint (`bert.embeddings...`) rather than a BertModel. */
export function hasBertPrefix(names: Iterable<string>): boolean {
  for (const n of names) if (n.startsWith(BERT_PREFIX)) return true;
  return false;
}

export function addPrefix(specs: readonly ParamSpec[], prefix: string): ParamSpec[] {
  return specs.map((s) => ({ name: prefix + s.name, shape: [...s.shape] }));
}

/** Entries under `prefix`, with it removed; the rest are left out. */
export function takePrefix<T>(tensors: ReadonlyMap<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

export function withPrefix<T>(tensors: ReadonlyMap<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) out.set(prefix + k, v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// BLINK / BioFEG

export type BlinkEncoderName = 'context_encoder' | 'cand_encoder' | 'encoder';
export const BLINK_BERT = 'bert_model';
export const BLINK_LINEAR = 'additional_linear';

export function blinkBertPrefix(encoder: BlinkEncoderName): string {
  return `${encoder}.${BLINK_BERT}.`;
}

export function blinkLinearSpecs(encoder: BlinkEncoderName, hiddenSize: number, outDim: number): ParamSpec[] {
  return [
    { name: `${encoder}.${BLINK_LINEAR}.weight`, shape: [outDim, hiddenSize] },
    { name: `${encoder}.${BLINK_LINEAR}.bias`, shape: [outDim] },
  ];
}

/**
 * One BLINK BertEncoder's parameters: the BERT's (HF names, no prefix, as the model lists them)
 * under `<encoder>.bert_model.`, then `<encoder>.additional_linear.*` when `outDim` is given.
 */
export function blinkEncoderSpecs(encoder: BlinkEncoderName, bert: readonly ParamSpec[], outDim?: number): ParamSpec[] {
  const out = addPrefix(bert, blinkBertPrefix(encoder));
  if (outDim !== undefined) out.push(...blinkLinearSpecs(encoder, hiddenOf(bert), outDim));
  return out;
}

/** The bi-encoder's state_dict layout: context encoder, then candidate encoder. */
export function biencoderSpecs(bert: readonly ParamSpec[], outDim?: number): ParamSpec[] {
  return [...blinkEncoderSpecs('context_encoder', bert, outDim), ...blinkEncoderSpecs('cand_encoder', bert, outDim)];
}

function hiddenOf(bert: readonly ParamSpec[]): number {
  const w = bert.find((s) => s.name === 'embeddings.word_embeddings.weight');
  if (w?.shape.length !== 2) throw new Error('BERT parameter list lacks embeddings.word_embeddings.weight');
  return w.shape[1]!;
}

export interface BlinkEncoderParts<T> {
  /** BERT tensors with HF names (prefix removed). */
  bert: Map<string, T>;
  /** additional_linear weight and bias, when present. */
  linear: { weight: T; bias: T } | null;
}

export interface BiencoderParts<T> {
  context: BlinkEncoderParts<T>;
  candidate: BlinkEncoderParts<T>;
}

function encoderParts<T>(file: string, all: ReadonlyMap<string, T>, encoder: BlinkEncoderName): BlinkEncoderParts<T> {
  const bert = new Map<string, T>();
  for (const [k, v] of takePrefix(all, blinkBertPrefix(encoder))) bert.set(modernizeName(k), v);
  const w = all.get(`${encoder}.${BLINK_LINEAR}.weight`);
  const b = all.get(`${encoder}.${BLINK_LINEAR}.bias`);
  if ((w === undefined) !== (b === undefined))
    throw new CheckpointError(file, `${encoder}.${BLINK_LINEAR} has only one of weight and bias`);
  if (bert.size === 0) throw new CheckpointError(file, `no ${blinkBertPrefix(encoder)}* tensors`);
  return { bert, linear: w !== undefined && b !== undefined ? { weight: w, bias: b } : null };
}

/** Split a bi-encoder state_dict (a `module.` prefix from DataParallel is removed first). */
export function splitBiencoder<T>(tensors: ReadonlyMap<string, T>, file = '<state_dict>'): BiencoderParts<T> {
  const all = stripDataParallel(tensors);
  const known = [
    blinkBertPrefix('context_encoder'),
    blinkBertPrefix('cand_encoder'),
    `context_encoder.${BLINK_LINEAR}.`,
    `cand_encoder.${BLINK_LINEAR}.`,
  ];
  // Under the known prefixes only BERT parameters (any size) and the linear's weight and bias;
  // a model of a given size checks the rest (layer count, shapes) when it loads them.
  const linearNames = ['context_encoder', 'cand_encoder'].flatMap((e) => [`${e}.${BLINK_LINEAR}.weight`, `${e}.${BLINK_LINEAR}.bias`]);
  const fits = (k: string): boolean => {
    const p = known.find((q) => k.startsWith(q));
    if (p === undefined) return false;
    return p.endsWith(`${BLINK_BERT}.`) ? isBertParamName(modernizeName(k.slice(p.length))) : linearNames.includes(k);
  };
  const unexpected = [...all.keys()].filter((k) => !fits(k));
  if (unexpected.length)
    throw new CheckpointError(
      file,
      `not a bi-encoder state_dict: unexpected ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}`,
    );
  return { context: encoderParts(file, all, 'context_encoder'), candidate: encoderParts(file, all, 'cand_encoder') };
}

/** The inverse of splitBiencoder, in state_dict order. */
export function joinBiencoder<T>(parts: BiencoderParts<T>): Map<string, T> {
  const out = new Map<string, T>();
  const put = (encoder: BlinkEncoderName, p: BlinkEncoderParts<T>): void => {
    for (const [k, v] of p.bert) out.set(blinkBertPrefix(encoder) + k, v);
    if (p.linear) {
      out.set(`${encoder}.${BLINK_LINEAR}.weight`, p.linear.weight);
      out.set(`${encoder}.${BLINK_LINEAR}.bias`, p.linear.bias);
    }
  };
  put('context_encoder', parts.context);
  put('cand_encoder', parts.candidate);
  return out;
}

/** torch.nn.DataParallel saves every name under `module.`. */
export function stripDataParallel<T>(tensors: ReadonlyMap<string, T>): ReadonlyMap<string, T> {
  const keys = [...tensors.keys()];
  return keys.length > 0 && keys.every((k) => k.startsWith('module.')) ? takePrefix(tensors, 'module.') : tensors;
}

// ---------------------------------------------------------------------------------------------
// Matching a checkpoint against a model's parameter list

export interface ShapedData {
  shape: readonly number[];
}

export interface MatchReport<T> {
  /** Tensors in the order of the specs (undefined where missing or mis-shaped). */
  ordered: Array<T | undefined>;
  missing: string[];
  unexpected: string[];
  mismatched: Array<{ name: string; expected: number[]; got: number[] }>;
}

/** Line tensors up with a parameter list; names in `ignore` are neither used nor unexpected. */
export function matchParams<T extends ShapedData>(
  specs: readonly ParamSpec[],
  tensors: ReadonlyMap<string, T>,
  ignore: readonly string[] = BERT_BUFFERS,
): MatchReport<T> {
  const used = new Set<string>();
  const r: MatchReport<T> = { ordered: [], missing: [], unexpected: [], mismatched: [] };
  for (const s of specs) {
    const t = tensors.get(s.name);
    if (!t) {
      r.missing.push(s.name);
      r.ordered.push(undefined);
      continue;
    }
    used.add(s.name);
    const same = t.shape.length === s.shape.length && t.shape.every((d, i) => d === s.shape[i]);
    if (!same) {
      r.mismatched.push({ name: s.name, expected: [...s.shape], got: [...t.shape] });
      r.ordered.push(undefined);
    } else r.ordered.push(t);
  }
  for (const k of tensors.keys()) if (!used.has(k) && !ignore.includes(k)) r.unexpected.push(k);
  return r;
}

/** matchParams that throws one error listing every problem; unexpected names are allowed if `allowUnexpected`. */
export function requireParams<T extends ShapedData>(
  file: string,
  specs: readonly ParamSpec[],
  tensors: ReadonlyMap<string, T>,
  opts: { allowUnexpected?: boolean; ignore?: readonly string[] } = {},
): T[] {
  const r = matchParams(specs, tensors, opts.ignore);
  const problems: string[] = [];
  if (r.missing.length) problems.push(`missing ${r.missing.join(', ')}`);
  for (const m of r.mismatched) problems.push(`${m.name} has shape ${shapeString(m.got)}, expected ${shapeString(m.expected)}`);
  if (r.unexpected.length && !opts.allowUnexpected) problems.push(`unexpected ${r.unexpected.join(', ')}`);
  if (problems.length) throw new CheckpointError(file, `checkpoint does not fit the model: ${problems.join('; ')}`);
  return r.ordered as T[];
}
