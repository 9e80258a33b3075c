// Cross-encoder checkpoints: a folder with model.safetensors and pytorch_model.bin under
// CrossEncoderModule's state_dict names (encoder.bert_model.…, encoder.additional_linear.…, which
// the original's load_model reads), config.json (HF BERT config + biofeg.model "crossencoder" and
// the pair windows), the vocabulary, and optionally the optimiser and trainer state.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readCheckpointFile, stripDataParallel, writeSafetensors, writeTorchCheckpoint } from '../checkpoint/index.js';
import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { BERT_BUFFERS, modernizeName } from '../checkpoint/hf-names.js';
import { CheckpointError, requireFinite, type HostTensor } from '../checkpoint/types.js';
import { SettingsError } from '../errors.js';
import { bertConfigFromHf, type BertConfig, type BertPrecision } from '../models/bert.js';
import { CrossEncoder } from '../models/crossencoder.js';
import { hfConfigOf, initBertParams, isBertSize, sizedConfig } from '../models/init.js';
import { mulberry32 } from '../models/rng.js';
import type { DeviceName } from '../native.js';
import { writeCheckpointDir } from './checkpoint-dir.js';
import type { FlatAdamW } from './optimizer.js';
import { stateDictOf, type StateDict } from './state-dict.js';
import { writeTrainingFiles } from './training-files.js';

/** The windows a cross-encoder was trained with (config.json `biofeg.cross`). */
export interface CrossWindows {
  maxContextLength: number;
  maxCandLength: number;
  maxSeqLength: number;
}

export function crossStateDict(model: CrossEncoder): StateDict {
  return stateDictOf(model.parts());
}

/** Copies a CrossEncoderModule state_dict into the model: every parameter present, same shapes, nothing else. */
export function loadCrossStateDict(model: CrossEncoder, raw: ReadonlyMap<string, HostTensor>, file: string): void {
  const tensors = new Map([...stripDataParallel(raw)].map(([k, v]) => [modernizeName(k), v] as const));
  const known = new Set(model.parts().flatMap((p) => p.layout.map((e) => p.prefix + e.name)));
  const extra = [...tensors.keys()].filter((k) => !known.has(k) && !BERT_BUFFERS.some((b) => k.endsWith(`.${b}`)));
  if (extra.length)
    throw new CheckpointError(
      file,
      `unexpected ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''} (the model has no such parameter: a checkpoint of another size, or not a cross-encoder state_dict of encoder.bert_model.… and encoder.additional_linear.…)`,
    );
  for (const p of model.parts()) {
    const flat = new Float32Array(p.params.shape[0]!);
    for (const e of p.layout) {
      const name = p.prefix + e.name;
      const t = tensors.get(name);
      if (!t) throw new CheckpointError(file, `missing ${name} (not a cross-encoder state_dict with add_linear?)`);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
        throw new CheckpointError(file, `${name} has shape [${t.shape.join(', ')}], the model expects [${e.shape.join(', ')}]`);
      if (!(t.data instanceof Float32Array)) throw new CheckpointError(file, `${name} is not a float tensor`);
      requireFinite(file, name, t.data);
      flat.set(t.data, e.offset);
    }
    p.params.upload(flat);
  }
}

export interface CrossSaveOptions {
  windows: CrossWindows;
  vocabPath?: string | undefined;
  lowercase?: boolean | undefined;
  optimizer?: FlatAdamW;
  trainerState?: Record<string, unknown>;
}

/** Writes `dir` atomically: the old folder stays until the new one is complete. */
export async function saveCrossEncoder(dir: string, model: CrossEncoder, o: CrossSaveOptions): Promise<void> {
  const sd = crossStateDict(model);
  await writeCheckpointDir(dir, (tmp) => {
    writeSafetensors(join(tmp, 'model.safetensors'), sd, { format: 'pt' });
    writeTorchCheckpoint(join(tmp, 'pytorch_model.bin'), sd);
    const cfg = {
      ...hfConfigOf(model.config),
      biofeg: {
        model: 'crossencoder',
        add_linear: true,
        out_dim: 1,
        pooler: true,
        cross: {
          max_context_length: o.windows.maxContextLength,
          max_cand_length: o.windows.maxCandLength,
          max_seq_length: o.windows.maxSeqLength,
          do_lower_case: o.lowercase ?? true,
        },
      },
    };
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    writeTrainingFiles(tmp, o);
  });
}

export interface CrossOpenOptions {
  device: DeviceName;
  /** A cross-encoder checkpoint folder, or a state_dict file (ours or the original's pytorch_model.bin). */
  pathToModel?: string | undefined;
  /** An HF BERT folder (the original's --bert_model) or a built-in size: tiny, small, base. */
  bertModel?: string | undefined;
  vocabSize?: number;
  seed?: number;
  dropout?: number | undefined;
  precision?: BertPrecision;
}

export interface CrossOpened {
  model: CrossEncoder;
  /** The checkpoint folder when one was opened (optimiser / trainer state, vocabulary). */
  checkpointDir?: string;
  /** The windows the checkpoint records, when it does. */
  windows?: CrossWindows;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(path, `not valid JSON (${(e as Error).message})`);
  }
}

function windowsOf(cfg: Record<string, unknown>, path: string): CrossWindows | undefined {
  const ours = cfg['biofeg'] as Record<string, unknown> | undefined;
  const c = ours?.['cross'] as Record<string, unknown> | undefined;
  if (c === undefined) return undefined;
  const int = (k: string): number => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new CheckpointError(path, `biofeg.cross.${k}: expected an integer >= 0`);
    return v;
  };
  return { maxContextLength: int('max_context_length'), maxCandLength: int('max_cand_length'), maxSeqLength: int('max_seq_length') };
}

/** Builds the cross-encoder a stage asks for: from a checkpoint, an HF BERT (linear initialised), or a random built-in size. */
export function openCrossEncoder(o: CrossOpenOptions): CrossOpened {
  if (o.pathToModel !== undefined && !existsSync(o.pathToModel))
    throw new SettingsError('pathToModel', `path_to_model ${o.pathToModel}: no such cross-encoder checkpoint folder or file`);
  const ckDir = o.pathToModel ? (statSync(o.pathToModel).isDirectory() ? o.pathToModel : dirname(o.pathToModel)) : undefined;
  const ckCfgPath = ckDir ? join(ckDir, 'config.json') : undefined;
  const ckCfg = ckCfgPath && existsSync(ckCfgPath) ? readJson(ckCfgPath) : undefined;
  const ours = ckCfg?.['biofeg'] as { model?: string } | undefined;
  if (ckCfg && ours && ours.model !== 'crossencoder')
    throw new CheckpointError(ckCfgPath!, `a ${ours.model ?? 'biofeg'} checkpoint, not a cross-encoder (biofeg.model "crossencoder")`);
  let config: BertConfig;
  let hf: ReturnType<typeof loadHfFolder> | undefined;
  if (ckCfg) config = bertConfigFromHf(ckCfg, { pooler: true });
  else if (o.bertModel && isBertSize(o.bertModel)) {
    if (!o.vocabSize) throw new SettingsError('vocab', `bert_model ${o.bertModel}: a vocabulary is needed for a built-in size`);
    config = sizedConfig(o.bertModel, o.vocabSize);
  } else if (o.bertModel) {
    hf = loadHfFolder(o.bertModel);
    config = bertConfigFromHf(hf.config);
  } else
    throw new SettingsError('bertModel', 'give bert_model (an HF folder or tiny|small|base) or path_to_model (a cross-encoder checkpoint)');
  if (o.dropout !== undefined) config = { ...config, hiddenDropout: o.dropout, attentionDropout: o.dropout };
  const model = new CrossEncoder({ config, device: o.device, ...(o.precision ? { precision: o.precision } : {}) });
  const seed = o.seed ?? 52313;
  if (o.pathToModel) {
    const file = statSync(o.pathToModel).isDirectory()
      ? ['model.safetensors', 'pytorch_model.bin'].map((f) => join(o.pathToModel!, f)).find((f) => existsSync(f))
      : o.pathToModel;
    if (!file) throw new CheckpointError(o.pathToModel, 'no model.safetensors or pytorch_model.bin');
    loadCrossStateDict(model, readCheckpointFile(file), file);
  } else {
    const bert = model.encoder.bert;
    if (hf) bert.loadWeights(hf.tensors, { strict: false });
    else bert.parameters().upload(initBertParams(bert.layout, bert.numParameters, seed));
    model.encoder.linear!.init(mulberry32(seed + 1));
  }
  const windows = ckCfg ? windowsOf(ckCfg, ckCfgPath!) : undefined;
  return { model, ...(ckCfg ? { checkpointDir: ckDir! } : {}), ...(windows ? { windows } : {}) };
}
