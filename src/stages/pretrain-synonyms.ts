// The pretrainSynonyms stage: SapBERT's self-alignment pretraining on a KB's own names. Reads the
// KB (or finds the dictionary an import-pubtator folder was made from), makes SapBERT's pairs,
// tokenises every name once ([CLS] name [SEP] cut to maxLength, as `encode` cuts texts), builds
// the BERT (a built-in size from random weights, or an HF folder) and runs the loop. Under mpirun
// every rank reads the KB and makes the same pairs (seeded); rank 0 locks and writes the output.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

import { say, type TaskContext } from '../api/events.js';
import { loadHfFolder } from '../checkpoint/hf-folder.js';
import { readKbNames, type KbNames } from '../data/kb-names.js';
import { synonymPairs, type PairStats } from '../data/synonym-pairs.js';
import { InputError, SettingsError } from '../errors.js';
import { Bert, bertConfigFromHf, type BertConfig } from '../models/bert.js';
import { initBertParams, isBertSize, sizedConfig } from '../models/init.js';
import type { DeviceName } from '../native.js';
import { fieldLabel, resolveSettings } from '../settings/resolve.js';
import type { ResolvedSettings } from '../settings/stages.js';
import type { PretrainSynonymsSettings } from '../settings/types.js';
import { encodeTruncated } from '../tokenize/truncate.js';
import { pretrainSynonyms, type SynonymData } from '../train/pretrain-synonyms.js';
import { rankLogDir, runCommunicator, trainerRunFields, withRankOutputLock } from './ranks.js';
import { RESUME_HINT, trainingSession } from './session.js';
import { chooseDevice, modelTokenizer, precisionOf, type ModelTokenizer } from './setup.js';

type Settings = ResolvedSettings['pretrainSynonyms'];

export interface PretrainSynonymsResult {
  /** The BERT folder (HF layout): `train-biencoder --bert_model <outputPath>` starts from it. */
  outputPath: string;
  /** The KB file read and its format. */
  kb: string;
  format: KbNames['format'];
  stats: PairStats;
  /** Mean loss of each epoch run. */
  epochLosses: number[];
  /** Mean loss of the first and the last logged window of batches (about 1/100 of an epoch each). */
  firstLoss: number;
  lastLoss: number;
  steps: number;
  pairsPerSecond: number;
  seconds: number;
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/**
 * The KB file of the settings: `kb`, or from `dataPath` (an import-pubtator folder or its
 * processed/ folder) the dictionary its import-report.json names, else its arboEL documents.
 */
export function kbFileOf(s: Pick<PretrainSynonymsSettings, 'kb' | 'dataPath'>, stage = 'pretrainSynonyms'): string {
  if (s.kb !== undefined && s.dataPath !== undefined)
    throw new SettingsError('kb', `${stage}: give ${fieldLabel('kb')} or ${fieldLabel('dataPath')}, not both`);
  if (s.kb !== undefined) {
    if (!existsSync(s.kb) || isDir(s.kb)) throw new SettingsError('kb', `${stage}: ${fieldLabel('kb')} ${s.kb}: no such file`);
    return s.kb;
  }
  if (s.dataPath === undefined) throw new SettingsError('kb', `${stage}: ${fieldLabel('kb')} or ${fieldLabel('dataPath')} is required`);
  if (!isDir(s.dataPath)) throw new SettingsError('dataPath', `${stage}: ${fieldLabel('dataPath')} ${s.dataPath}: no such folder`);
  for (const dir of [s.dataPath, join(s.dataPath, '..')]) {
    const report = join(dir, 'import-report.json');
    if (!existsSync(report)) continue;
    let path: unknown;
    try {
      path = (JSON.parse(readFileSync(report, 'utf8')) as { dictionary?: { path?: unknown } }).dictionary?.path;
    } catch (e) {
      throw new InputError(report, undefined, `invalid JSON (${(e as Error).message})`);
    }
    if (typeof path !== 'string' || path === '') throw new InputError(report, undefined, 'expected "dictionary": { "path": ... }');
    // Relative to where import-pubtator ran, or else to the report's folder.
    const found = [path, isAbsolute(path) ? path : resolve(dir, path)].find((p) => existsSync(p) && !isDir(p));
    if (!found)
      throw new InputError(report, undefined, `the dictionary it names, ${path}, is not found (give it with ${fieldLabel('kb')})`);
    return found;
  }
  for (const dir of [s.dataPath, join(s.dataPath, '..')]) {
    const docs = join(dir, 'documents', 'all_documents.json');
    if (existsSync(docs)) return docs;
  }
  throw new SettingsError(
    'dataPath',
    `${stage}: ${fieldLabel('dataPath')} ${s.dataPath}: expected an import-pubtator folder (import-report.json) or an arboEL folder (documents/all_documents.json)`,
  );
}

/** The BERT to pretrain: a built-in size from seeded random weights, or an HF folder's weights. */
function openBert(
  s: Settings,
  device: DeviceName,
  note: (line: string) => void,
): { bert: Bert; saveConfig: BertConfig; tok: ModelTokenizer } {
  const size = isBertSize(s.bertModel) ? s.bertModel : undefined;
  if (!size && !existsSync(join(s.bertModel, 'config.json')))
    throw new SettingsError(
      'bertModel',
      `pretrainSynonyms: ${fieldLabel('bertModel')} "${s.bertModel}" is neither a built-in size (tiny, small, base) nor a folder with an HF BERT (config.json); nothing is downloaded`,
    );
  if (s.vocab !== undefined && !existsSync(s.vocab))
    throw new SettingsError('vocab', `pretrainSynonyms: ${fieldLabel('vocab')} ${s.vocab}: not found`);
  const tok = modelTokenizer(size ? undefined : s.bertModel, s.vocab);
  const hf = size ? undefined : loadHfFolder(s.bertModel);
  const saveConfig = size ? sizedConfig(size, tok.tokenizer.vocabSize) : bertConfigFromHf(hf!.config);
  if (tok.tokenizer.vocabSize > saveConfig.vocabSize)
    throw new SettingsError(
      'vocab',
      `pretrainSynonyms: the vocabulary has ${tok.tokenizer.vocabSize} entries, the BERT's embeddings ${saveConfig.vocabSize}`,
    );
  if (s.maxLength > saveConfig.maxPositions)
    throw new SettingsError(
      'maxLength',
      `pretrainSynonyms: ${fieldLabel('maxLength')} ${s.maxLength} exceeds the BERT's ${saveConfig.maxPositions} positions`,
    );
  const config = s.dropout !== undefined ? { ...saveConfig, hiddenDropout: s.dropout, attentionDropout: s.dropout } : saveConfig;
  const bert = new Bert(config, device, { precision: precisionOf(s.precision, device, 'training') });
  bert.parameters().upload(initBertParams(bert.layout, bert.numParameters, s.seed));
  if (hf) {
    const r = bert.loadWeights(hf.tensors, { strict: false });
    if (r.missing.length > 0)
      note(`${s.bertModel}: ${r.missing.length} parameter(s) not in the folder start random: ${r.missing.slice(0, 3).join(', ')}`);
  }
  return { bert, saveConfig, tok };
}

export async function runPretrainSynonyms(input: PretrainSynonymsSettings, ctx: TaskContext): Promise<PretrainSynonymsResult> {
  const s = resolveSettings('pretrainSynonyms', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'training');
  const kb = kbFileOf(s);
  const comm = runCommunicator();
  return withRankOutputLock(comm, s.outputPath, 'pretrain-synonyms', async () => {
    const t0 = performance.now();
    // The other ranks read the same KB: their lines would repeat rank 0's.
    const note = (line: string) => {
      if (comm.rank === 0) say(ctx, line);
    };
    const { bert, saveConfig, tok } = openBert(s, device, note);
    const names = await readKbNames(kb);
    const pairs = synonymPairs(names.concepts, { lowercase: tok.lowercase, seed: s.seed });
    const st = pairs.stats;
    note(
      `${kb} (${names.format}): ${st.concepts} concepts, ${st.conceptsWithPairs} with synonyms, ${st.skippedNoSynonym} skipped (one name), ` +
        `${st.names} names (${st.sharedNames} shared by several concepts, kept), ${st.pairs} pairs (${st.sampledConcepts} concepts cut to 50)`,
    );
    if (st.pairs === 0)
      throw new InputError(
        kb,
        undefined,
        names.format === 'arboel'
          ? 'the arboEL documents hold one name a concept (no synonyms): give the dictionary (--kb) or the import-pubtator folder that names it'
          : 'no concept with two distinct names: nothing to pair',
      );
    const tokens = pairs.texts.map((t) => {
      const ids = tok.tokenizer.encodeTruncated
        ? tok.tokenizer.encodeTruncated(t, s.maxLength)
        : encodeTruncated(tok.tokenizer, t, s.maxLength);
      return Int32Array.from(ids);
    });
    const data: SynonymData = { tokens, left: pairs.left, right: pairs.right, label: pairs.label };
    const r = await trainingSession(
      rankLogDir(comm, s.outputPath),
      ctx,
      { resumeHint: RESUME_HINT, start: { command: 'pretrain-synonyms', device, kb, settings: s } },
      (hooks) => {
        hooks.log.log('data', { kb, format: names.format, ...st, readerWarnings: names.warnings, skippedExamples: pairs.skippedExamples });
        return pretrainSynonyms(
          {
            bert,
            saveConfig,
            data,
            ...trainerRunFields(s, tok, comm),
          },
          {
            learningRate: s.learningRate,
            weightDecay: s.weightDecay,
            trainBatchSize: s.trainBatchSize,
            epochs: s.epochs,
            seed: s.seed,
            shuffle: s.shuffle,
          },
          hooks,
        );
      },
    );
    return { outputPath: s.outputPath, kb, format: names.format, stats: st, ...r, seconds: (performance.now() - t0) / 1000 };
  });
}
