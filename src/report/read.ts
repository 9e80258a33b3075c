// A run folder -> RunData. Either a pipeline's folder (pipeline.json and/or stage subfolders, in
// the pipeline's order, src/pipeline/run.ts) or one stage's own folder (its DONE.json, log.jsonl or
// eval_report.json). Anything else is an InputError: a report of nothing helps no one.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { InputError, SettingsError } from '../errors.js';
import { pipelineStageNames } from '../pipeline/config.js';
import { looksLikeStage, readStage, STAGE_FILES } from './stage.js';
import type { RunData, StageData } from './types.js';

/** The pipeline's stage folders in its order; `processed` (the demo's prepare) first. */
const ORDER = ['processed', ...pipelineStageNames({ evalUntrained: true, hardRound: true, crossencoder: true })];

/** The stages pipeline.json asks for, when it can be read (its two keys that choose them). */
function expectedStages(root: string): string[] | undefined {
  const p = join(root, 'pipeline.json');
  if (!existsSync(p)) return undefined;
  try {
    const c = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    const evalUntrained = c['evalUntrained'] ?? c['eval_untrained'];
    const hardRound = c['hardRound'] ?? c['hard_round'];
    const crossencoder = c['crossencoder'];
    return pipelineStageNames({
      evalUntrained: evalUntrained === true,
      hardRound: hardRound !== false,
      crossencoder: crossencoder === true,
    });
  } catch {
    return undefined;
  }
}

function notRun(root: string, name: string): StageData {
  return {
    name,
    dir: join(root, name),
    kind: 'other',
    status: 'not run',
    seconds: null,
    finishedAt: null,
    device: null,
    settings: null,
    result: null,
    steps: [],
    epochs: [],
    plannedEpochs: null,
    gan: [],
    recall: [],
    rerank: [],
    failure: null,
    missing: ['no folder: the pipeline has not reached this stage'],
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array [${v.map((x) => typeof x).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

/** `stages`: the stage folders the run is to have, in order (a pipeline knows them); default from pipeline.json. */
export function readRun(runDir: string, stages?: readonly string[]): RunData {
  // A public entry: checked here so a caller's wrong type is a SettingsError, not a TypeError of path.resolve.
  if (typeof runDir !== 'string' || runDir === '')
    throw new SettingsError('runDir', `report: runDir must be a non-empty string (a run folder), got ${describe(runDir)}`);
  if (stages !== undefined && (!Array.isArray(stages) || !stages.every((n) => typeof n === 'string' && n !== '')))
    throw new SettingsError('stages', `report: stages must be an array of stage folder names, got ${describe(stages)}`);
  const root = resolve(runDir);
  if (!existsSync(root)) throw new InputError(runDir, undefined, 'no such folder (expected a biofeg run folder)');
  if (!statSync(root).isDirectory()) throw new InputError(runDir, undefined, 'not a folder (expected a biofeg run folder)');
  if (looksLikeStage(root)) return { root, layout: 'stage', stages: [readStage(root)], missing: [] };

  const subs = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && looksLikeStage(join(root, d.name)))
    .map((d) => d.name);
  const expected = stages ? [...stages] : expectedStages(root);
  // A pipeline's folder has its config or a stage folder of the pipeline's names; stage-like
  // folders of other names alone (a folder of many runs, /tmp) are no pipeline.
  if (expected === undefined && !subs.some((n) => ORDER.includes(n) && n !== 'processed')) {
    const hint = subs.length
      ? `; its subfolders ${subs.slice(0, 5).join(', ')}${subs.length > 5 ? ', ...' : ''} look like stage folders: report one of them`
      : '';
    throw new InputError(
      runDir,
      undefined,
      `not a biofeg run folder: it holds none of ${STAGE_FILES.join(', ')}, no pipeline.json and no pipeline stage folder${hint}`,
    );
  }
  const order = expected ? [...ORDER.filter((n) => !expected.includes(n)), ...expected] : ORDER;
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  const names = [...new Set([...subs, ...(expected ?? [])])].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const read = names.map((n) => (subs.includes(n) ? readStage(join(root, n), n) : notRun(root, n)));
  const missing: string[] = [];
  const absent = read.filter((s) => s.status === 'not run').map((s) => s.name);
  if (absent.length > 0) missing.push(`stages not run yet: ${absent.join(', ')}`);
  if (expected === undefined) missing.push('no pipeline.json: the stages shown are the folders found');
  return { root, layout: 'pipeline', stages: read, missing };
}
