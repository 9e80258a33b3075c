// The pipeline's typed config, and how a JSON config file becomes one. A file may spell keys as
// the original's snake_case flags (`learning_rate`, `biencoder_hard`) or camelCase (`learningRate`,
// `biencoderHard`); both land in the same typed settings, checked before any stage runs.
import { existsSync, readFileSync } from 'node:fs';

import { SettingsError } from '../errors.js';
import { FIELDS, type FieldName } from '../settings/fields.js';
import type {
  EvaluateBiencoderSettings,
  EvaluateCrossencoderSettings,
  FinetuneSettings,
  GenerateFeaturesSettings,
  ModelSettings,
  TrainBiencoderSettings,
  TrainCrossencoderSettings,
  TrainGanSettings,
} from '../settings/types.js';

/** What every stage shares (each takes the keys it knows). */
export interface PipelineShared extends ModelSettings {
  /** The prepared folder. */
  dataPath: string;
  /** The run's folder: one subfolder per stage. */
  outputPath: string;
  entityDictPath?: string;
}

/** A section: that stage's own settings; the pipeline chooses paths, models and resume itself. */
type Section<S> = Partial<Omit<S, 'dataPath' | 'outputPath' | 'pathToModel' | 'resume' | 'generateDataPath' | 'ganPath' | 'ganBiencoder'>>;

/**
 * The whole schedule (see {@link runPipeline}). Sections hold per-stage settings; `generateHard`
 * and `evalFinal` fall back to `generate` and `eval`.
 */
export interface PipelineConfig extends PipelineShared {
  /** recall@k of the eval stages (default 64). */
  topK?: number;
  /** Candidates per mention in the hard round and per feature in generate-hard (default 64). */
  hardTopK?: number;
  /** false stops after eval-finetune (default true). */
  hardRound?: boolean;
  /** Adds stage 0: evaluate the model bertModel builds, before training (default false). */
  evalUntrained?: boolean;
  /**
   * Adds the cross-encoder after the last bi-encoder stage (default false): cross-candidates (the
   * final bi-encoder's top-`crossTopK` of train, valid and the test modes), crossencoder,
   * eval-crossencoder.
   */
  crossencoder?: boolean;
  /** Candidates per mention the cross-encoder reranks (default 64). */
  crossTopK?: number;
  biencoder?: Section<TrainBiencoderSettings>;
  eval?: Section<EvaluateBiencoderSettings>;
  gan?: Section<TrainGanSettings>;
  generate?: Section<GenerateFeaturesSettings>;
  finetune?: Section<FinetuneSettings>;
  biencoderHard?: Section<TrainBiencoderSettings>;
  generateHard?: Section<GenerateFeaturesSettings>;
  finetuneHard?: Section<FinetuneSettings>;
  evalFinal?: Section<EvaluateBiencoderSettings>;
  /** trainCrossencoder's settings (addLinear is always true; maxContextLength defaults to the shared one). */
  cross?: Section<TrainCrossencoderSettings>;
  evalCross?: Section<EvaluateCrossencoderSettings>;
}

export const SECTIONS = [
  'biencoder',
  'eval',
  'gan',
  'generate',
  'finetune',
  'biencoderHard',
  'generateHard',
  'finetuneHard',
  'evalFinal',
  'cross',
  'evalCross',
] as const;
export type SectionName = (typeof SECTIONS)[number];
const SHARED: readonly FieldName[] = [
  'dataPath',
  'outputPath',
  'entityDictPath',
  'bertModel',
  'vocab',
  'device',
  'precision',
  'threads',
  'seed',
  'maxContextLength',
  'maxCandLength',
  'addLinear',
  'outDim',
  'dropout',
];
const TOP_ONLY = {
  topK: 'top_k',
  hardTopK: 'hard_top_k',
  hardRound: 'hard_round',
  evalUntrained: 'eval_untrained',
  crossencoder: 'crossencoder',
  crossTopK: 'cross_top_k',
} as const;
/** Keys a section may not set: the pipeline chooses them. */
export const CHOSEN: readonly string[] = ['dataPath', 'outputPath', 'pathToModel', 'resume', 'generateDataPath', 'ganPath', 'ganBiencoder'];

const snake = (camel: string): string => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const BY_FLAG = new Map<string, FieldName>(Object.entries(FIELDS).map(([name, spec]) => [spec.flag, name as FieldName]));

/** A field's camelCase name from either spelling (`learning_rate`, `learningRate`, `mode` -> `modes`). */
function fieldOf(key: string): FieldName | undefined {
  if (key in FIELDS) return key as FieldName;
  return BY_FLAG.get(key);
}

/** `mode: "test,test_seen"` as the CLI writes it; lists may also be arrays. */
function normalise(name: FieldName, v: unknown): unknown {
  if (FIELDS[name].kind === 'list' && typeof v === 'string')
    return v
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  return v;
}

function sectionOf(where: string, name: string, raw: unknown): Record<string, unknown> {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new SettingsError(name, `${where}: "${name}" must be an object of settings`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const f = fieldOf(k);
    if (f === undefined) throw new SettingsError(`${name}.${k}`, `${where}: "${name}.${k}" is not a setting`);
    if (CHOSEN.includes(f))
      throw new SettingsError(`${name}.${k}`, `${where}: "${name}" may not set ${CHOSEN.join(', ')} (the pipeline chooses them)`);
    out[f] = normalise(f, v);
  }
  return out;
}

/**
 * Reads a config object (parsed JSON; `where` names it in errors) into a {@link PipelineConfig}.
 * Types of the stage settings are checked when the pipeline plans its stages, before any runs.
 * `silent` is accepted (a display option of the CLI) and left out.
 */
export function parsePipelineConfig(raw: unknown, where: string): PipelineConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new SettingsError('(settings)', `${where}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  const sectionKeys = new Map<string, SectionName>(
    SECTIONS.flatMap(
      (s) =>
        [
          [s, s],
          [snake(s), s],
        ] as Array<[string, SectionName]>,
    ),
  );
  const topKeys = new Map<string, string>(
    Object.entries(TOP_ONLY).flatMap(([c, s]) => [
      [c, c],
      [s, c],
    ]),
  );
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'silent') continue;
    const section = sectionKeys.get(k);
    if (section !== undefined) {
      out[section] = sectionOf(where, k, v);
      continue;
    }
    const top = topKeys.get(k);
    if (top !== undefined) {
      out[top] = v;
      continue;
    }
    const f = fieldOf(k);
    if (f === undefined || !SHARED.includes(f)) {
      const known = [...SHARED.map((s) => FIELDS[s].flag), ...Object.values(TOP_ONLY), ...SECTIONS.map(snake)];
      throw new SettingsError(k, `${where}: unknown key "${k}" (expected one of ${known.join(', ')})`);
    }
    out[f] = normalise(f, v);
  }
  for (const k of ['dataPath', 'outputPath'] as const)
    if (typeof out[k] !== 'string' || out[k] === '') throw new SettingsError(k, `${where}: "${FIELDS[k].flag}" (a string) is required`);
  for (const k of ['topK', 'hardTopK', 'crossTopK'] as const)
    if (out[k] !== undefined && (!Number.isInteger(out[k]) || (out[k] as number) < 1))
      throw new SettingsError(k, `${where}: "${TOP_ONLY[k]}" must be a positive integer, got ${JSON.stringify(out[k])}`);
  for (const k of ['hardRound', 'evalUntrained', 'crossencoder'] as const)
    if (out[k] !== undefined && typeof out[k] !== 'boolean') throw new SettingsError(k, `${where}: "${TOP_ONLY[k]}" must be true or false`);
  // Each value's type is checked by resolveSettings when the stages are planned (runPipeline).
  const config: PipelineConfig = { ...out, dataPath: String(out['dataPath']), outputPath: String(out['outputPath']) };
  return config;
}

/** Reads a JSON config file; errors name the file (and the key). */
export function readPipelineConfig(file: string): PipelineConfig {
  if (!existsSync(file)) throw new SettingsError('config', `${file}: not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SettingsError('config', `${file}: expected JSON (${(e as Error).message})`);
  }
  return parsePipelineConfig(raw, file);
}

/** The original's schedule (its README): the first round of stages, then the hard-negative round. */
export const FIRST_ROUND_STAGES = ['biencoder', 'eval-biencoder', 'gan', 'generate', 'finetune', 'eval-finetune'] as const;
export const HARD_ROUND_STAGES = ['biencoder-hard', 'generate-hard', 'finetune-hard', 'eval-final'] as const;
/** The stages of a default config, in order (no eval-untrained, the hard round, no cross-encoder). */
export const DEFAULT_STAGES = [...FIRST_ROUND_STAGES, ...HARD_ROUND_STAGES] as const;
export const CROSS_STAGES = ['cross-candidates', 'crossencoder', 'eval-crossencoder'] as const;

/** The stage names runPipeline runs for `c`, in order. */
export function pipelineStageNames(c: Pick<PipelineConfig, 'evalUntrained' | 'hardRound' | 'crossencoder'>): string[] {
  return [
    ...(c.evalUntrained === true ? ['eval-untrained'] : []),
    ...FIRST_ROUND_STAGES,
    ...(c.hardRound !== false ? HARD_ROUND_STAGES : []),
    ...(c.crossencoder === true ? CROSS_STAGES : []),
  ];
}
