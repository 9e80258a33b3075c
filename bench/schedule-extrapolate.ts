// From a measured pipeline run (its stage folders) on a synthetic dataset to the original BioFEG
// schedule at MedMentions' size (issue 21): each stage's time split into a fixed part and parts
// that grow with what the stage iterates over, the latter scaled to the full dataset's counts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { SyntheticCounts } from '../src/data/synthetic.js';
import { DEFAULT_STAGES } from '../src/pipeline/config.js';
import { readLog } from '../src/report/log.js';

/** Epochs of each stage in the original's README (scripts at ../shared/reference/BioFEG-README.md). */
export const ORIGINAL_EPOCHS = { biencoder: 1, gan: 80, finetune: 1, 'biencoder-hard': 1, 'finetune-hard': 1 } as const;

/** The pipeline's stages in order, as the original runs them: one hard round. */
export const SCHEDULE = DEFAULT_STAGES;
export type ScheduleStage = (typeof SCHEDULE)[number];

export interface StageEstimate {
  stage: ScheduleStage;
  /** Not finished in the measured run (the budget ran out first). */
  missing: boolean;
  measuredSeconds?: number;
  /** Seconds that do not grow with the data (model load, setup). */
  fixedSeconds?: number;
  /** Seconds at the measured size of the part that grows (one epoch for training stages). */
  scaledSeconds?: number;
  /** What the scaled part was multiplied by: full count / measured count, times epochs. */
  factor?: number;
  fullSeconds?: number;
  /** How this stage was extrapolated, in words. */
  how: string;
}

interface Done {
  seconds: number;
  result?: Record<string, unknown>;
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

/** Training stage: one epoch's seconds (from the log, warm where it can) scale with examples; the rest is fixed. */
function trainStage(dir: string, stage: ScheduleStage, done: Done, fullExamples: number, what: string): StageEstimate {
  const log = readLog(join(dir, 'log.jsonl'));
  const records = log?.records ?? [];
  const plan = records.find((r) => r.event === 'plan');
  const examples = typeof plan?.['examples'] === 'number' ? plan['examples'] : undefined;
  const firstEpoch = records.findIndex((r) => r.event === 'epoch');
  const t = (i: number) => Date.parse(records[i]?.time ?? '');
  const epochs = ORIGINAL_EPOCHS[stage as keyof typeof ORIGINAL_EPOCHS];
  // The epoch runs from the last plan or eval line before it (the pre-training check ends there).
  let start = firstEpoch - 1;
  while (start > 0 && records[start]!.event !== 'eval' && records[start]!.event !== 'plan') start--;
  if (firstEpoch <= 0 || start < 0 || !examples)
    return { stage, missing: false, measuredSeconds: done.seconds, how: 'no plan or epoch line in log.jsonl: not extrapolated' };
  const steps: number[] = [];
  for (let i = start + 1; i < firstEpoch; i++) if (records[i]!.event === 'step') steps.push(i);
  let epochSeconds: number;
  let detail: string;
  const updates = (i: number) => Number(records[i]!['updates']);
  const perEpoch = Number(plan?.['optimizerStepsPerEpoch']);
  if (steps.length >= 3 && perEpoch > 0 && updates(steps.at(-1)!) > updates(steps[0]!)) {
    // Metrics lines (about 100 an epoch, with the update count): the steady time per update, so
    // the first update's warm-up (allocations, handles) stays a fixed cost instead of being scaled.
    const first = steps[0]!,
      last = steps.at(-1)!;
    const per = (t(last) - t(first)) / 1000 / (updates(last) - updates(first));
    const check = Math.max(0, (t(firstEpoch) - t(last)) / 1000 - per * (perEpoch - updates(last)));
    epochSeconds = per * perEpoch + check;
    detail = `${perEpoch} updates x ${per.toFixed(3)} s (steady, from the step lines) + val check ${check.toFixed(1)} s`;
  } else {
    epochSeconds = (t(firstEpoch) - t(start)) / 1000;
    detail = `epoch ${epochSeconds.toFixed(1)} s (train + val check, warm-up included)`;
  }
  const epochLines = records.flatMap((r, i) => (r.event === 'epoch' ? [i] : []));
  const measuredEpochs = epochLines.length;
  if (measuredEpochs >= 2) {
    // Two epochs or more (the GAN's, by default): the last one runs warm, so it is the one scaled.
    epochSeconds = (t(epochLines.at(-1)!) - t(epochLines.at(-2)!)) / 1000;
    detail = `last of ${measuredEpochs} epochs ${epochSeconds.toFixed(1)} s (train + val check, warm)`;
  }
  const fixed = Math.max(0, done.seconds - measuredEpochs * epochSeconds);
  const factor = (fullExamples / examples) * epochs;
  return {
    stage,
    missing: false,
    measuredSeconds: done.seconds,
    fixedSeconds: fixed,
    scaledSeconds: epochSeconds,
    factor,
    fullSeconds: fixed + epochSeconds * factor,
    how: `${detail} x ${fullExamples}/${examples} ${what} x ${epochs} epoch${epochs > 1 ? 's' : ''} + fixed ${fixed.toFixed(1)} s`,
  };
}

interface EvalReportPart {
  entities: number;
  entityPool: { seconds: number; fromCache: boolean };
  modes: Array<{ mode: string; seconds: number; recall: { total: number } }>;
}

/** Mentions of each eval mode at full size. */
function fullModeCount(mode: string, full: SyntheticCounts): number | undefined {
  switch (mode) {
    case 'train':
      return full.mentions.train;
    case 'valid':
    case 'val':
      return full.mentions.val;
    case 'test':
      return full.mentions.test;
    case 'test_unseen':
      return full.unseenMentions.test;
    case 'test_seen':
      return full.mentions.test - full.unseenMentions.test;
    default:
      return undefined;
  }
}

/** Eval stage: entity pool encodes scale with entities, each mode with its mentions. */
function evalStage(dir: string, stage: ScheduleStage, done: Done, full: SyntheticCounts): StageEstimate {
  const reports = [join(dir, 'eval_report.json'), join(dir, 'candidates', 'eval_report.json')]
    .map((p) => readJson<EvalReportPart>(p))
    .filter((r): r is EvalReportPart => r !== undefined);
  let measured = 0,
    extrapolated = 0;
  const parts: string[] = [];
  for (const r of reports) {
    const pool = r.entityPool.seconds;
    measured += pool;
    extrapolated += pool * (full.entities / r.entities);
    parts.push(`pool ${pool.toFixed(1)} s x ${full.entities}/${r.entities}${r.entityPool.fromCache ? ' (from cache)' : ''}`);
    for (const m of r.modes) {
      const n = fullModeCount(m.mode, full);
      measured += m.seconds;
      // Retrieval's score term grows with mentions x entities: scaled by mentions only, as encoding the mentions dominates it.
      extrapolated += n !== undefined && m.recall.total > 0 ? m.seconds * (n / m.recall.total) : m.seconds;
      parts.push(`${m.mode} ${m.seconds.toFixed(1)} s x ${n ?? '?'}/${m.recall.total}`);
    }
  }
  const fixed = Math.max(0, done.seconds - measured);
  return {
    stage,
    missing: false,
    measuredSeconds: done.seconds,
    fixedSeconds: fixed,
    scaledSeconds: measured,
    factor: measured > 0 ? extrapolated / measured : 1,
    fullSeconds: fixed + extrapolated,
    how: `${parts.join(', ')} + fixed ${fixed.toFixed(1)} s`,
  };
}

/** Generate stage: linear in the features it generates (one per entity unseen in train). */
function generateStage(stage: ScheduleStage, done: Done, full: SyntheticCounts): StageEstimate {
  const count = Number(done.result?.['count'] ?? 0);
  if (!(count > 0)) return { stage, missing: false, measuredSeconds: done.seconds, how: 'no feature count in DONE.json: not extrapolated' };
  const factor = full.unseenEntities / count;
  return {
    stage,
    missing: false,
    measuredSeconds: done.seconds,
    fixedSeconds: 0,
    scaledSeconds: done.seconds,
    factor,
    fullSeconds: done.seconds * factor,
    how: `${done.seconds.toFixed(1)} s x ${full.unseenEntities}/${count} features (fixed costs scaled too: an upper bound)`,
  };
}

/** Every stage of the schedule, extrapolated from the run in `runDir` to the dataset sizes in `full`. */
export function extrapolate(runDir: string, full: SyntheticCounts): StageEstimate[] {
  return SCHEDULE.map((stage) => {
    const dir = join(runDir, stage);
    const done = readJson<Done>(join(dir, 'DONE.json'));
    if (!done) return { stage, missing: true, how: 'not finished in the measured run' };
    if (stage.startsWith('eval-')) return evalStage(dir, stage, done, full);
    if (stage.startsWith('generate')) return generateStage(stage, done, full);
    if (stage.startsWith('finetune')) return trainStage(dir, stage, done, full.unseenEntities, 'generated features');
    return trainStage(dir, stage, done, full.mentions.train, 'train mentions');
  });
}

/** Stage folders under a run (for a clear error when the run folder is wrong). */
export function stageFolders(runDir: string): string[] {
  return existsSync(runDir) ? readdirSync(runDir).filter((d) => (SCHEDULE as readonly string[]).includes(d)) : [];
}
