// The evaluateBiencoder stage: the original's blink/biencoder/eval_biencoder.py. Encodes the
// entity dictionary (cached on disk by model hash), retrieves the top-k entities of every mention
// of each mode, reports recall@k as the original does plus a table, writes
// <outputPath>/eval_report.json and, with saveTopkResult, the candidate files hard training reads.
// Under mpirun the ranks share the entity pool's encoding (eval/pool-ranks.ts); rank 0 writes.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { count, detail, type TaskContext } from '../api/events.js';
import type { Communicator } from '../comm/communicator.js';
import { AbortError } from '../errors.js';
import { evalReportPath, evaluateModes, type EvalReport, type ProgressFactory } from '../eval/evaluate.js';
import { resolveSettings } from '../settings/resolve.js';
import type { ResolvedSettings } from '../settings/stages.js';
import type { EvaluateBiencoderSettings } from '../settings/types.js';
import { readInferenceMeta, recordedWindows } from '../train/biencoder-checkpoint.js';
import { runCommunicator, withRankOutputLock } from './ranks.js';
import { checkDataPath, checkModelSource, chooseDevice, openModel, precisionOf } from './setup.js';

/** Recall of one mode. */
export interface ModeRecall {
  mode: string;
  /** Mentions evaluated. */
  total: number;
  /** recall@k by k ("1", "2", "4", ... up to topK); null for an empty mode. */
  recall: Record<string, number | null>;
  /** With saveTopkResult: the candidate file written. */
  candidateFile?: string;
}

export interface EvaluateBiencoderResult {
  modes: ModeRecall[];
  /** The recall table as the CLI prints it. */
  table: string;
  /** `<outputPath>/eval_report.json` (the full report). */
  reportPath: string;
  entities: number;
  seconds: number;
}

/** Progress phases as events; each tick is also where an abort stops an evaluation (it writes nothing partial). */
function phases(ctx: TaskContext): ProgressFactory {
  return (label, total) => {
    const tick = (d: number): void => {
      if (ctx.stop.requested) throw new AbortError('evaluateBiencoder: aborted');
      if (total > 0) count(ctx, label, d, total);
    };
    return { tick, stop: () => undefined };
  };
}

export function summarise(r: EvalReport, outputPath: string, seconds: number): EvaluateBiencoderResult {
  return {
    modes: r.modes.map((m) => ({
      mode: m.mode,
      total: m.recall.total,
      recall: m.recall.recall,
      ...(m.candidateFile ? { candidateFile: m.candidateFile } : {}),
    })),
    table: r.table,
    reportPath: evalReportPath(outputPath),
    entities: r.entities,
    seconds,
  };
}

export async function runEvaluateBiencoder(input: EvaluateBiencoderSettings, ctx: TaskContext): Promise<EvaluateBiencoderResult> {
  const s = resolveSettings('evaluateBiencoder', input);
  const device = chooseDevice(s);
  precisionOf(s.precision, device, 'inference');
  checkModelSource('evaluateBiencoder', s);
  const entityDict = checkDataPath('evaluateBiencoder', s);
  for (const m of s.modes) checkDataPath('evaluateBiencoder', s, m, false);
  const comm = runCommunicator();
  return endTogether(comm, () => evaluateOnRanks(s, input, device, entityDict, comm, ctx));
}

async function evaluateOnRanks(
  s: ResolvedSettings['evaluateBiencoder'],
  input: EvaluateBiencoderSettings,
  device: ReturnType<typeof chooseDevice>,
  entityDict: string,
  comm: Communicator,
  ctx: TaskContext,
): Promise<EvaluateBiencoderResult> {
  // Rank 0's notes only: the other ranks would repeat them.
  const say = (line: string) => {
    if (comm.rank === 0) detail(ctx, line);
  };
  const t0 = performance.now();
  const opened = openModel(s, device);
  for (const b of [opened.model.context.bert, opened.model.candidate.bert]) b.keepWeightCopy(); // evaluation only
  const info: Record<string, string> =
    opened.checkpointDir !== undefined || s.pathToModel !== undefined
      ? { pathToModel: resolve(s.pathToModel!) }
      : existsSync(s.bertModel)
        ? { bertModel: resolve(s.bertModel) }
        : { bertModel: s.bertModel, init: `random (seed ${s.seed})` };
  if (opened.tok.vocabPath) info['vocab'] = resolve(opened.tok.vocabPath);
  // A checkpoint's recorded windows are the defaults; an explicit other one is used with a warning.
  const rec = opened.checkpointDir !== undefined ? readInferenceMeta(opened.checkpointDir) : undefined;
  const lens = recordedWindows(input, s, rec, say);
  const report = await withRankOutputLock(comm, s.outputPath, 'evaluateBiencoder', () =>
    evaluateModes({
      model: opened.model,
      tokenizer: opened.tok.tokenizer,
      tokenizerFactory: opened.tok.factory,
      dataPath: s.dataPath,
      entityDictPath: entityDict,
      outputPath: s.outputPath,
      modes: s.modes,
      topK: s.topK,
      encodeBatchSize: s.encodeBatchSize,
      evalBatchSize: s.evalBatchSize,
      maxContextLength: lens.maxContextLength,
      maxCandLength: lens.maxCandLength,
      saveTopk: s.saveTopkResult,
      poolDtype: s.poolDtype,
      poolCacheMaxBytes: s.embeddingCacheMb * 2 ** 20,
      ...(s.workers !== undefined ? { workers: s.workers } : {}),
      progress: phases(ctx),
      log: say,
      modelInfo: info,
      comm,
    }),
  );
  return summarise(report, s.outputPath, (performance.now() - t0) / 1000);
}

/**
 * A rank that fails or stops alone (its model, its output lock, a stop that reaches the ranks at
 * different batches) would leave the others waiting in their next collective: under mpirun any
 * failure ends the whole job, after this rank's output lock is released.
 */
async function endTogether<T>(comm: Communicator, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    comm.abortJob(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    throw e;
  }
}
