// Bi-encoder checkpoints: a folder with model.safetensors and pytorch_model.bin under the
// original's state_dict names (context_encoder.bert_model.…, cand_encoder.…, …additional_linear.…),
// config.json (HF BERT config + our settings), the vocabulary, and optionally the optimiser state.
// The original code loads pytorch_model.bin; an original pytorch_model.bin loads here too.
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import {
  encodeSafetensors,
  readCheckpointFile,
  readSafetensors,
  splitBiencoder,
  writeSafetensors,
  writeTorchCheckpoint,
} from '../checkpoint/index.js';
import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { BERT_BUFFERS, modernizeName } from '../checkpoint/hf-names.js';
import { type Bert, bertConfigFromHf, type BertConfig, type BertPrecision } from '../models/bert.js';
import { BiEncoder, type ParamPart } from '../models/biencoder.js';
import { mulberry32 } from '../models/rng.js';
import { hfConfigOf, initBertParams, isBertSize, sizedConfig } from '../models/init.js';
import type { DeviceName } from '../native.js';
import { writeCheckpointDir } from './checkpoint-dir.js';
import type { FlatAdamW } from './optimizer.js';
import { readStateFile } from './trainer-state.js';
import { CheckpointError, requireFinite, type HostTensor } from '../checkpoint/types.js';

export interface ModelSettings {
  addLinear: boolean;
  outDim: number;
}

type Named = Map<string, { shape: number[]; data: Float32Array }>;

/** Every parameter under its state_dict name, in state_dict order. */
export function stateDict(model: BiEncoder): Named {
  const out: Named = new Map();
  for (const p of model.parts()) {
    const flat = p.params.download() as Float32Array;
    for (const e of p.layout) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      out.set(p.prefix + e.name, { shape: e.shape, data: flat.slice(e.offset, e.offset + n) });
    }
  }
  return out;
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

export interface SaveOptions {
  settings: ModelSettings;
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
      biofeg: { model: 'biencoder', add_linear: o.settings.addLinear, out_dim: o.settings.outDim, pooler: model.config.pooler },
    };
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    if (o.vocabPath) {
      copyFileSync(o.vocabPath, join(tmp, 'vocab.txt'));
      writeFileSync(join(tmp, 'tokenizer_config.json'), `${JSON.stringify({ do_lower_case: o.lowercase ?? true })}\n`);
    }
    if (o.optimizer) {
      const st = o.optimizer.exportState();
      writeFileSync(join(tmp, 'optimizer.safetensors'), encodeSafetensors(st.moments, { steps: String(st.steps) }));
    }
    if (o.trainerState) writeFileSync(join(tmp, 'trainer_state.json'), `${JSON.stringify(o.trainerState, null, 2)}\n`);
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
