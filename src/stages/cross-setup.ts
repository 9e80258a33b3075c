// What the cross-encoder stages share: the candidate file of a mode in a candidates folder, the
// model a stage names and its tokenizer, and the checks that run before any of that.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { canonicalSplit } from '../data/arboel.js';
import { SettingsError } from '../errors.js';
import type { DeviceName } from '../native.js';
import { fieldLabel } from '../settings/resolve.js';
import type { ResolvedSettings } from '../settings/stages.js';
import { openCrossEncoder, type CrossOpened, type CrossWindows } from '../train/cross-checkpoint.js';
import { openCrossSource, type CrossSource } from '../train/cross-data.js';
import { modelTokenizer, precisionOf, type ModelTokenizer } from './setup.js';

type CrossSettings = ResolvedSettings['trainCrossencoder'] | ResolvedSettings['evaluateCrossencoder'];

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** The file name of a mode in a candidates folder: valid/dev are `val`, as the original's val.t7 and our val.topk. */
export function modeFileStem(mode: string): string {
  try {
    return canonicalSplit(mode);
  } catch {
    return mode; // test_seen, test_unseen
  }
}

/** `<dataPath>/<mode>.topk`, else `<dataPath>/<mode>.t7`; a SettingsError naming both when neither exists. */
export function candidateFileOf(stage: string, dataPath: string, mode: string): string {
  const stem = modeFileStem(mode);
  const tried = [`${stem}.topk`, `${stem}.t7`].map((f) => join(dataPath, f));
  const found = tried.find((p) => existsSync(p));
  if (!found)
    throw new SettingsError(
      'dataPath',
      `${stage}: ${fieldLabel('dataPath')} ${dataPath}: no ${tried.map((p) => p.slice(dataPath.length + 1)).join(' or ')} (the top<k>_candidates folder of evaluateBiencoder with saveTopkResult, or the original's .t7 files)`,
    );
  return found;
}

/** The cheap checks: add_linear, the folder and the model exist. */
export function checkCrossSettings(stage: string, s: CrossSettings): void {
  if (!s.addLinear)
    throw new SettingsError(
      'addLinear',
      `${stage}: ${fieldLabel('addLinear')} must be true: without it the original's encoder returns [CLS] vectors, which its scores.view(-1, k) cannot turn into one score per candidate`,
    );
  if (!isDir(s.dataPath)) throw new SettingsError('dataPath', `${stage}: ${fieldLabel('dataPath')} ${s.dataPath}: no such folder`);
  if (s.pathToModel !== undefined && !existsSync(s.pathToModel))
    throw new SettingsError('pathToModel', `${stage}: ${fieldLabel('pathToModel')} ${s.pathToModel}: no such checkpoint folder or file`);
  if (s.vocab !== undefined && !existsSync(s.vocab))
    throw new SettingsError('vocab', `${stage}: ${fieldLabel('vocab')} ${s.vocab}: not found`);
}

/** The cross-encoder (checkpoint, HF folder or random built-in size) and its tokenizer (for the vocabulary). */
export function openCrossModel(s: CrossSettings, device: DeviceName, use: 'inference' | 'training'): CrossOpened & { tok: ModelTokenizer } {
  const ck = s.pathToModel ? (isDir(s.pathToModel) ? s.pathToModel : undefined) : undefined;
  const ckTok = ck !== undefined && (existsSync(join(ck, 'vocab.txt')) || existsSync(join(ck, 'tokenizer.json')));
  const tok = modelTokenizer(ckTok ? ck : isDir(s.bertModel) ? s.bertModel : undefined, s.vocab);
  const opened = openCrossEncoder({
    device,
    pathToModel: s.pathToModel,
    bertModel: s.bertModel,
    vocabSize: tok.tokenizer.vocabSize,
    seed: s.seed,
    dropout: s.dropout,
    precision: precisionOf(s.precision, device, use),
  });
  return { ...opened, tok };
}

/** A mode's candidates, ids checked against the model's vocabulary (and .topk caches against its tokenizer), windows against the settings. */
export function openModeSource(
  stage: string,
  s: CrossSettings,
  mode: string,
  expect: { vocabSize: number; tokenizerHash: string },
  warn: (line: string) => void,
): CrossSource {
  const src = openCrossSource(candidateFileOf(stage, s.dataPath, mode), expect);
  if (s.maxContextLength !== 0 && s.maxContextLength !== src.ctxLen)
    warn(
      `note: ${src.path}: context windows of ${src.ctxLen} tokens, max_context_length ${s.maxContextLength}: segment ids start at ${s.maxContextLength}, as the original's to_bert_input does`,
    );
  return src;
}

/**
 * The pair settings of an evaluation: each one given explicitly wins (with a warning when the
 * checkpoint was trained with another), else the checkpoint's (config.json `biofeg.cross`), else the default.
 */
export function crossWindows(
  given: { maxContextLength?: number | undefined; maxSeqLength?: number | undefined },
  defaults: { maxContextLength: number; maxSeqLength: number },
  recorded: CrossWindows | undefined,
  warn: (line: string) => void,
): { maxContextLength: number; maxSeqLength: number } {
  const pick = (k: 'maxContextLength' | 'maxSeqLength', flag: string): number => {
    const g = given[k];
    const r = recorded?.[k];
    if (g !== undefined && r !== undefined && g !== r)
      warn(`warning: ${flag} ${g} given, but the cross-encoder was trained with ${r} (its config.json records it); results may be worse`);
    return g ?? r ?? defaults[k];
  };
  return { maxContextLength: pick('maxContextLength', 'max_context_length'), maxSeqLength: pick('maxSeqLength', 'max_seq_length') };
}
