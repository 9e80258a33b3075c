// Bi-encoder checkpoints: a folder with model.safetensors and pytorch_model.bin under the
// original's state_dict names (context_encoder.bert_model.…, cand_encoder.…, …additional_linear.…),
// config.json (HF BERT config + our settings), the vocabulary, and optionally the optimiser state.
// The original code loads pytorch_model.bin; an original pytorch_model.bin loads here too.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readCheckpointFile, readSafetensors, splitBiencoder, writeSafetensors, writeTorchCheckpoint } from '../checkpoint/index.js';
import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { BERT_BUFFERS, modernizeName } from '../checkpoint/hf-names.js';
import { type Bert, bertConfigFromHf, type BertConfig, type BertPrecision } from '../models/bert.js';
import { BiEncoder, type ParamPart } from '../models/biencoder.js';
import { mulberry32 } from '../models/rng.js';
import { hfConfigOf, initBertParams, isBertSize, sizedConfig } from '../models/init.js';
import type { DeviceName } from '../native.js';
import { ENT_END_TAG, ENT_START_TAG, ENT_TITLE_TAG } from '../data/blink-inputs.js';
import { writeCheckpointDir } from './checkpoint-dir.js';
import { isPlainBertFolder } from './hf-bert-checkpoint.js';
import type { FlatAdamW } from './optimizer.js';
import { stateDictOf, type StateDict } from './state-dict.js';
import { writeTrainingFiles } from './training-files.js';
import { readStateFile } from './trainer-state.js';
import { CheckpointError, requireFinite, type HostTensor } from '../checkpoint/types.js';

export interface ModelSettings {
  addLinear: boolean;
  outDim: number;
}

/** Every parameter under its state_dict name, in state_dict order. */
export function stateDict(model: BiEncoder): StateDict {
  return stateDictOf(model.parts());
}

/** Copies tensors by state_dict name into the model; every parameter must be present, and nothing else. */
export function loadStateDict(model: BiEncoder, tensors: ReadonlyMap<string, HostTensor>, file: string): void {
  splitBiencoder(tensors, file); // rejects anything that is not a bi-encoder state_dict
  const known = new Set(model.parts().flatMap((p) => p.layout.map((e) => p.prefix + e.name)));
  const extra = [...tensors.keys()].filter((k) => !known.has(modernizeName(k)) && !BERT_BUFFERS.some((b) => k.endsWith(`.${b}`)));
  if (extra.length)
    throw new CheckpointError(
      file,
      `unexpected ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''} (the model has no such parameter)`,
    );
  for (const p of model.parts()) {
    const flat = new Float32Array(p.params.shape[0]!);
    for (const e of p.layout) {
      const name = p.prefix + e.name;
      const t = tensors.get(name) ?? legacyName(tensors, name);
      if (!t) throw new Error(`${file}: missing ${name}`);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
        throw new Error(`${file}: ${name} has shape [${t.shape.join(', ')}], the model expects [${e.shape.join(', ')}]`);
      if (!(t.data instanceof Float32Array)) throw new Error(`${file}: ${name} is not a float tensor`);
      requireFinite(file, name, t.data);
      flat.set(t.data, e.offset);
    }
    p.params.upload(flat);
  }
}

function legacyName<T>(tensors: ReadonlyMap<string, T>, name: string): T | undefined {
  return tensors.get(name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'));
}

/**
 * What inference needs to rebuild the model's inputs as training built them: the window lengths,
 * the mention and title markers, lower-casing. Recorded in config.json (`biofeg.inference`) so a
 * linker or an evaluation does not silently use other windows than the model was trained with.
 */
export interface InferenceMeta {
  maxContextLength: number;
  maxCandLength: number;
  /** [start, end] around the mention in its context window. */
  mentionMarkers: [string, string];
  /** Between an entity's title and its text. */
  titleMarker: string;
  lowercase: boolean;
}

/** Defaults for a checkpoint that records nothing (older ones, the original's): the settings' and BLINK's. */
export const DEFAULT_INFERENCE: InferenceMeta = {
  maxContextLength: 128,
  maxCandLength: 128,
  mentionMarkers: [ENT_START_TAG, ENT_END_TAG],
  titleMarker: ENT_TITLE_TAG,
  lowercase: true,
};

/**
 * The inference settings a checkpoint folder records (config.json `biofeg.inference`), or undefined
 * when it records none; a malformed record is a CheckpointError.
 */
export function readInferenceMeta(dir: string): InferenceMeta | undefined {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  let cfg: Record<string, unknown>;
  try {
    cfg = readJson(path);
  } catch (e) {
    throw new CheckpointError(path, `not valid JSON (${(e as Error).message})`);
  }
  const ours = cfg['biofeg'];
  if (typeof ours !== 'object' || ours === null) return undefined;
  const inf = (ours as Record<string, unknown>)['inference'];
  if (inf === undefined) return undefined;
  const bad = (what: string): never => {
    throw new CheckpointError(path, `biofeg.inference.${what}`);
  };
  if (typeof inf !== 'object' || inf === null) return bad(': expected an object');
  const o = inf as Record<string, unknown>;
  const len = (k: string): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= 4 ? v : bad(`${k}: expected an integer >= 4, got ${JSON.stringify(v)}`);
  };
  const str = (v: unknown, k: string): string => (typeof v === 'string' && v !== '' ? v : bad(`${k}: expected a token`));
  const m = o['mention_markers'];
  if (!Array.isArray(m) || m.length !== 2) return bad('mention_markers: expected [start, end]');
  if (typeof o['do_lower_case'] !== 'boolean') return bad('do_lower_case: expected true or false');
  return {
    maxContextLength: len('max_context_length'),
    maxCandLength: len('max_cand_length'),
    mentionMarkers: [str(m[0], 'mention_markers[0]'), str(m[1], 'mention_markers[1]')],
    titleMarker: str(o['title_marker'], 'title_marker'),
    lowercase: o['do_lower_case'],
  };
}

/**
 * The windows a stage uses with a checkpoint: each one given explicitly wins (with a warning when
 * the checkpoint recorded another), else the recorded one, else the settings' default.
 */
export function recordedWindows(
  given: { maxContextLength?: number | undefined; maxCandLength?: number | undefined },
  defaults: { maxContextLength: number; maxCandLength: number },
  recorded: InferenceMeta | undefined,
  warn: (line: string) => void,
): { maxContextLength: number; maxCandLength: number } {
  const pick = (k: 'maxContextLength' | 'maxCandLength', flag: string): number => {
    const g = given[k];
    const r = recorded?.[k];
    if (g !== undefined && r !== undefined && g !== r)
      warn(`warning: ${flag} ${g} given, but the checkpoint was trained with ${r} (its config.json records it); results may be worse`);
    return g ?? r ?? defaults[k];
  };
  return { maxContextLength: pick('maxContextLength', 'max_context_length'), maxCandLength: pick('maxCandLength', 'max_cand_length') };
}

export interface SaveOptions {
  settings: ModelSettings;
  /** The windows the model was trained with (config.json `biofeg.inference`); lowercase comes from `lowercase`. */
  inference?: { maxContextLength: number; maxCandLength: number };
  /** vocab.txt to copy beside the weights, and whether it lowercases. */
  vocabPath?: string;
  lowercase?: boolean;
  optimizer?: FlatAdamW;
  trainerState?: Record<string, unknown>;
  /** Also write pytorch_model.bin for the original code (default true). */
  torchBin?: boolean;
}

/** Writes `dir` atomically: the old folder stays until the new one is complete. */
export async function saveBiEncoder(dir: string, model: BiEncoder, o: SaveOptions): Promise<void> {
  const sd = stateDict(model);
  await writeCheckpointDir(dir, (tmp) => {
    writeSafetensors(join(tmp, 'model.safetensors'), sd, { format: 'pt' });
    if (o.torchBin ?? true) writeTorchCheckpoint(join(tmp, 'pytorch_model.bin'), sd);
    const cfg = {
      ...hfConfigOf(model.config),
      biofeg: {
        model: 'biencoder',
        add_linear: o.settings.addLinear,
        out_dim: o.settings.outDim,
        pooler: model.config.pooler,
        ...(o.inference
          ? {
              inference: {
                max_context_length: o.inference.maxContextLength,
                max_cand_length: o.inference.maxCandLength,
                mention_markers: [ENT_START_TAG, ENT_END_TAG],
                title_marker: ENT_TITLE_TAG,
                do_lower_case: o.lowercase ?? true,
              },
            }
          : {}),
      },
    };
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    writeTrainingFiles(tmp, o);
  });
}

export interface OpenOptions {
  device: DeviceName;
  /** --path_to_model: our checkpoint folder, or a state_dict file (ours or the original's pytorch_model.bin). */
  pathToModel?: string;
  /** --bert_model: an HF folder (both encoders start from it) or a built-in size: tiny, small, base. */
  bertModel?: string;
  /** Vocabulary size for a built-in size. */
  vocabSize?: number;
  maxPositions?: number;
  settings?: Partial<ModelSettings>;
  seed?: number;
  /** Overrides the config's hidden and attention dropout (e.g. 0 for a small model trained from scratch). */
  dropout?: number;
  /** BERT compute precision (bf16: CUDA mixed precision; checkpoints stay f32). */
  precision?: BertPrecision;
}

export interface Opened {
  model: BiEncoder;
  settings: ModelSettings;
  /** The folder holding vocab.txt / tokenizer files for this model, if any. */
  tokenizerDir?: string;
  /** The checkpoint folder when one was opened (optimiser / trainer state may be there). */
  checkpointDir?: string;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Builds the bi-encoder a command asks for: from a checkpoint, an HF BERT, or a random built-in size. */
export function openBiEncoder(o: OpenOptions): Opened {
  // An HF BERT folder given as the checkpoint (pretrain-synonyms' output): both encoders from it.
  if (o.pathToModel !== undefined && isPlainBertFolder(o.pathToModel))
    return openBiEncoder({ ...o, pathToModel: undefined, bertModel: o.pathToModel });
  const ckDir = o.pathToModel ? (statSync(o.pathToModel).isDirectory() ? o.pathToModel : dirname(o.pathToModel)) : undefined;
  const ckCfgPath = ckDir ? join(ckDir, 'config.json') : undefined;
  const ckCfg = ckCfgPath && existsSync(ckCfgPath) ? readJson(ckCfgPath) : undefined;
  const ours = ckCfg?.['biofeg'] as { add_linear?: boolean; out_dim?: number; pooler?: boolean } | undefined;
  const settings: ModelSettings = {
    addLinear: o.settings?.addLinear ?? ours?.add_linear ?? false,
    outDim: o.settings?.outDim ?? ours?.out_dim ?? 1,
  };
  let config: BertConfig;
  let tokenizerDir: string | undefined;
  let hf: ReturnType<typeof loadHfFolder> | undefined;
  if (ckCfg && ours) {
    config = bertConfigFromHf(ckCfg, { pooler: ours.pooler ?? true });
    tokenizerDir = ckDir;
  } else if (o.bertModel && isBertSize(o.bertModel)) {
    if (!o.vocabSize) throw new Error(`--bert_model ${o.bertModel}: a vocabulary is needed for a built-in size`);
    config = sizedConfig(o.bertModel, o.vocabSize, o.maxPositions ?? 512);
  } else if (o.bertModel) {
    hf = loadHfFolder(o.bertModel);
    config = bertConfigFromHf(hf.config);
    tokenizerDir = o.bertModel;
  } else {
    throw new Error('give --bert_model (an HF folder or tiny|small|base) or --path_to_model (a bi-encoder checkpoint)');
  }
  if (o.dropout !== undefined) config = { ...config, hiddenDropout: o.dropout, attentionDropout: o.dropout };
  const model = new BiEncoder({
    config,
    device: o.device,
    addLinear: settings.addLinear,
    outDim: settings.outDim,
    ...(o.precision ? { precision: o.precision } : {}),
  });
  if (o.pathToModel) {
    const file = statSync(o.pathToModel).isDirectory()
      ? ['model.safetensors', 'pytorch_model.bin'].map((f) => join(o.pathToModel!, f)).find((f) => existsSync(f))
      : o.pathToModel;
    if (!file) throw new Error(`${o.pathToModel}: no model.safetensors or pytorch_model.bin`);
    loadStateDict(model, readCheckpointFile(file), file);
  } else if (hf) {
    for (const side of [model.context, model.candidate]) side.bert.loadWeights(hf.tensors, { strict: false });
    initLinears(model, o.seed ?? 52313);
  } else {
    initRandom(model, o.seed ?? 52313);
  }
  return { model, settings, tokenizerDir, checkpointDir: ckCfg && ours ? ckDir : undefined };
}

function initLinears(model: BiEncoder, seed: number): void {
  let s = seed;
  for (const side of [model.context, model.candidate]) {
    if (!side.linear) continue;
    side.linear.init(mulberry32(s++));
  }
}

/** Random BERT init (seeded), the same weights for both encoders as BLINK's two copies of one model. */
function initRandom(model: BiEncoder, seed: number): void {
  const bert: Bert = model.context.bert;
  const flat = initBertParams(bert.layout, bert.numParameters, seed);
  model.context.bert.parameters().upload(flat);
  model.candidate.bert.parameters().upload(flat);
  initLinears(model, seed + 1);
}

/** Restores the optimiser moments and returns trainer_state.json from a checkpoint folder. */
export function loadTrainingState(dir: string, opt: FlatAdamW): Record<string, unknown> {
  const st = readSafetensors(join(dir, 'optimizer.safetensors'));
  const steps = Number(st.metadata?.['steps'] ?? NaN);
  if (!Number.isInteger(steps) || steps < 0) throw new CheckpointError(join(dir, 'optimizer.safetensors'), "no valid 'steps' metadata");
  opt.importState({ steps, moments: new Map([...st.tensors].map(([k, t]) => [k, { data: t.data }])) });
  const state = readStateFile(join(dir, 'trainer_state.json'));
  if (!state) throw new CheckpointError(join(dir, 'trainer_state.json'), 'not found: the folder is not a resumable checkpoint');
  return state;
}

export type { ParamPart };
