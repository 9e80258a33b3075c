// From a pipeline run's files alone (readRun): the GAN's loss curves in brief and the recall of
// seen and unseen test mentions after each bi-encoder round, so "did the generated features move
// unseen recall, and did the GAN converge" is read off one run (issue 22's diagnosis).
import { readRun } from './read.js';
import type { GanEpoch, StageData } from './types.js';

export interface CurveSummary {
  first: number | null;
  last: number | null;
  min: number | null;
  max: number | null;
}

export interface GanSummary {
  epochs: number;
  disc: CurveSummary;
  gen: CurveSummary;
  wasserstein: CurveSummary;
  penalty: CurveSummary;
  /** The bi-encoder's in-batch accuracy on val with generated features, per epoch as logged. */
  accuracy: Array<number | null>;
}

export interface RoundRecall {
  stage: string;
  /** recall@k by mode then k ("1", "8", "64"); null where the report lacks it. */
  recall: Record<string, Record<string, number | null>>;
}

export interface RunSummary {
  gan: GanSummary | null;
  rounds: RoundRecall[];
  /** eval-finetune minus eval-biencoder, test_unseen, at 1, 8, 64 (null when either is missing). */
  unseenGain: Record<string, number | null>;
  missing: string[];
}

const ROUNDS = ['eval-biencoder', 'eval-finetune', 'eval-final'] as const;
const MODES = ['test', 'test_seen', 'test_unseen'] as const;
const KS = ['1', '8', '64'] as const;

function curve(xs: ReadonlyArray<number | null>): CurveSummary {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0
    ? { first: null, last: null, min: null, max: null }
    : { first: v[0]!, last: v.at(-1)!, min: Math.min(...v), max: Math.max(...v) };
}

export function summariseGan(epochs: readonly GanEpoch[]): GanSummary {
  return {
    epochs: epochs.length,
    disc: curve(epochs.map((e) => e.disc)),
    gen: curve(epochs.map((e) => e.gen)),
    wasserstein: curve(epochs.map((e) => e.wasserstein)),
    penalty: curve(epochs.map((e) => e.penalty)),
    accuracy: epochs.map((e) => e.accuracy),
  };
}

function roundOf(st: StageData): RoundRecall {
  const recall: RoundRecall['recall'] = {};
  for (const m of MODES) {
    const c = st.recall.find((x) => x.mode === m);
    recall[m] = Object.fromEntries(KS.map((k) => [k, c?.ranks[k] ?? null]));
  }
  return { stage: st.name, recall };
}

export function summariseRun(runDir: string): RunSummary {
  const run = readRun(runDir);
  const missing = [...run.missing];
  const ganStage = run.stages.find((s) => s.name === 'gan');
  if (!ganStage || ganStage.gan.length === 0) missing.push('gan: no epoch lines in its log.jsonl');
  const rounds = ROUNDS.flatMap((n) => {
    const st = run.stages.find((s) => s.name === n);
    return st && st.recall.length > 0 ? [roundOf(st)] : [];
  });
  const before = rounds.find((r) => r.stage === 'eval-biencoder')?.recall['test_unseen'];
  const after = rounds.find((r) => r.stage === 'eval-finetune')?.recall['test_unseen'];
  const unseenGain = Object.fromEntries(
    KS.map((k) => {
      const a = after?.[k],
        b = before?.[k];
      return [k, a != null && b != null ? a - b : null];
    }),
  );
  return { gan: ganStage && ganStage.gan.length > 0 ? summariseGan(ganStage.gan) : null, rounds, unseenGain, missing };
}

const f = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '-' : x.toFixed(d));

/** Plain-text lines of a summary (what scripts/gan-diagnosis.ts prints). */
export function formatRunSummary(s: RunSummary): string {
  const out: string[] = [];
  if (s.gan) {
    out.push(`GAN, ${s.gan.epochs} epochs (first -> last, [min, max]):`);
    for (const k of ['disc', 'gen', 'wasserstein', 'penalty'] as const) {
      const c = s.gan[k];
      out.push(`  ${k.padEnd(12)} ${f(c.first)} -> ${f(c.last)}  [${f(c.min)}, ${f(c.max)}]`);
    }
    out.push(`  val in-batch accuracy with generated features: ${s.gan.accuracy.map((a) => f(a)).join(', ')}`);
  }
  out.push('recall after each round (r@1 / r@8 / r@64):');
  for (const r of s.rounds)
    out.push(`  ${r.stage.padEnd(15)} ${MODES.map((m) => `${m} ${KS.map((k) => f(r.recall[m]?.[k])).join('/')}`).join('  ')}`);
  out.push(`unseen gain of GAN fine-tuning (eval-finetune - eval-biencoder): ${KS.map((k) => `r@${k} ${f(s.unseenGain[k])}`).join(', ')}`);
  if (s.missing.length) out.push(`missing: ${s.missing.join('; ')}`);
  return out.join('\n');
}
