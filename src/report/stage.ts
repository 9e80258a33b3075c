// One stage's folder -> StageData: DONE.json (finished, wall time, result, settings'
// fingerprint), log.jsonl (training curves, GAN epochs, how it stopped), eval_report.json (recall).
// Whatever is absent or damaged is listed in `missing`, never thrown: a report shows what exists.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { isNonFinite, loggedSeconds, num, readLog, type LogRecord } from './log.js';
import type { EpochPoint, GanEpoch, ModeCurve, RerankMode, StageData, StageKind, StepPoint } from './types.js';

export const STAGE_FILES = ['DONE.json', 'log.jsonl', 'eval_report.json'] as const;

/** True when `dir` holds any file a biofeg stage writes. */
export function looksLikeStage(dir: string): boolean {
  return STAGE_FILES.some((f) => existsSync(join(dir, f)));
}

function readJson(path: string, missing: string[], what: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    missing.push(`${what} cannot be read (${e instanceof Error ? e.message : String(e)})`);
    return undefined;
  }
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function kindOf(name: string, start: LogRecord | undefined, hasEval: boolean, result: Record<string, unknown> | undefined): StageKind {
  const cmd = start?.['command'];
  if (cmd === 'train-gan') return 'gan';
  if (cmd === 'train-biencoder' || cmd === 'finetune' || cmd === 'train-crossencoder') return 'train';
  if (hasEval || name.startsWith('eval')) return 'eval';
  if (result && 'count' in result && 'path' in result) return 'generate';
  if (name === 'gan') return 'gan';
  if (name.startsWith('biencoder') || name.startsWith('finetune') || name === 'crossencoder') return 'train';
  if (name.startsWith('generate')) return 'generate';
  if (name === 'processed' || result?.['dataDir'] !== undefined) return 'prepare';
  return 'other';
}

function steps(records: readonly LogRecord[]): StepPoint[] {
  // The 'step' metrics lines when the log has them; older logs only have the print-interval 'train' lines.
  const own = records.filter((r) => r.event === 'step');
  const src = own.length > 0 ? own : records.filter((r) => r.event === 'train');
  // A resumed run logs again from its checkpoint: the later line of an update wins.
  const byUpdate = new Map<number, StepPoint>();
  for (const r of src) {
    const p: StepPoint = {
      updates: num(r['updates']) ?? 0,
      epoch: num(r['epoch']) ?? 0,
      loss: num(r['loss']),
      lr: num(r['lr']),
      gradNorm: num(r['gradNorm']),
      stepsPerSecond: num(r['stepsPerSecond']),
      sequencesPerSecond: num(r['sequencesPerSecond']),
    };
    byUpdate.set(p.updates, p);
  }
  return [...byUpdate.values()].sort((x, y) => x.updates - y.updates);
}

function epochs(records: readonly LogRecord[]): EpochPoint[] {
  const before = records.find((r) => r.event === 'eval' && r['epoch'] === -1);
  const out: EpochPoint[] = before ? [{ epoch: -1, accuracy: num(before['accuracy']) }] : [];
  for (const r of records) if (r.event === 'epoch') out.push({ epoch: num(r['epoch']) ?? out.length, accuracy: num(r['accuracy']) });
  return out;
}

function ganEpochs(records: readonly LogRecord[]): GanEpoch[] {
  return records
    .filter((r) => r.event === 'epoch')
    .map((r) => ({
      epoch: num(r['epoch']) ?? 0,
      disc: num(r['disc']),
      gen: num(r['gen']),
      mse: num(r['mse']),
      penalty: num(r['penalty']),
      wasserstein: num(r['wasserstein']),
      accuracy: num(r['accuracy']),
      batchesPerSecond: num(r['batchesPerSecond']),
    }));
}

/** eval-crossencoder's eval_report.json: modes with normalized / unnormalized accuracy. */
function rerank(report: unknown): RerankMode[] {
  const modes = obj(report)?.['modes'];
  if (!Array.isArray(modes)) return [];
  return modes.flatMap((v) => {
    const m = obj(v);
    if (!m || typeof m['mode'] !== 'string' || !('normalizedAccuracy' in m)) return [];
    return [
      {
        mode: m['mode'],
        mentions: num(m['mentions']),
        cross: num(m['unnormalizedAccuracy']),
        biencoder: num(m['biencoderUnnormalizedAccuracy']),
        recallAtK: num(m['recallAtK']),
        crossNormalized: num(m['normalizedAccuracy']),
      },
    ];
  });
}

function curves(report: unknown, missing: string[]): ModeCurve[] {
  const modes = obj(report)?.['modes'];
  if (!Array.isArray(modes)) {
    missing.push('eval_report.json has no "modes"');
    return [];
  }
  const out: ModeCurve[] = [];
  for (const m of modes) {
    const rec = obj(obj(m)?.['recall']);
    const mode = obj(m)?.['mode'];
    if (!rec || typeof mode !== 'string') continue;
    const total = num(rec['total']) ?? 0;
    const ranks: Record<string, number | null> = {};
    for (const [k, v] of Object.entries(obj(rec['recall']) ?? {})) ranks[k] = num(v);
    const hitsAtK = rec['hitsAtK'];
    const points =
      Array.isArray(hitsAtK) && total > 0
        ? hitsAtK.map((h, i) => ({ k: i + 1, recall: typeof h === 'number' ? h / total : null }))
        : Object.entries(ranks).map(([k, recall]) => ({ k: Number(k), recall }));
    out.push({ mode, total, points, ranks });
  }
  return out;
}

/** The stage's settings: its log's start line, else the fingerprint DONE.json keeps. */
function settingsOf(start: LogRecord | undefined, done: Record<string, unknown> | undefined): Record<string, unknown> | null {
  const fromLog = obj(start?.['settings']);
  if (fromLog) return fromLog;
  const fp = done?.['fingerprint'];
  if (typeof fp !== 'string') return null;
  try {
    const v = obj(JSON.parse(fp) as unknown);
    return obj(v?.['settings']) ?? v ?? null;
  } catch {
    return null;
  }
}

export function readStage(dir: string, name = basename(dir)): StageData {
  const missing: string[] = [];
  const done = obj(readJson(join(dir, 'DONE.json'), missing, 'DONE.json'));
  const log = readLog(join(dir, 'log.jsonl'));
  const records = log?.records ?? [];
  if (log) missing.push(...log.problems);
  const evalPath = join(dir, 'eval_report.json');
  const report = readJson(evalPath, missing, 'eval_report.json');
  const start = records.find((r) => r.event === 'start');
  const result = done?.['result'];
  const kind = kindOf(name, start, existsSync(evalPath), obj(result));
  const settings = settingsOf(start, done);

  // Only the last attempt's failure counts: an interrupted run that was resumed and finished is done.
  const starts = records.flatMap((r, i) => (r.event === 'start' ? [i] : []));
  const attempt = records.slice(starts.at(-1) ?? 0);
  const failedLine = attempt.filter((r) => r.event === 'failed' || r.event === 'error').at(-1);
  const nonFinite = attempt.find((r) => Object.values(r).some(isNonFinite));
  let failure: string | null = null;
  if (failedLine) failure = typeof failedLine['message'] === 'string' ? failedLine['message'] : 'the log ends with a failure';
  else if (nonFinite) failure = `a non-finite value was logged (${nonFinite.event} line, epoch ${String(nonFinite['epoch'] ?? '?')})`;
  const status = done ? 'done' : failure ? 'failed' : 'unfinished';
  if (!done) missing.push('no DONE.json: the stage did not finish (interrupted, failed or still running)');

  const planned = num(settings?.['numTrainEpochs']);
  const st: StageData = {
    name,
    dir,
    kind,
    status,
    seconds: num(done?.['seconds']) ?? loggedSeconds(records),
    finishedAt: typeof done?.['finishedAt'] === 'string' ? done['finishedAt'] : null,
    device: typeof start?.['device'] === 'string' ? start['device'] : null,
    settings,
    result: result ?? null,
    steps: kind === 'train' ? steps(records) : [],
    epochs: kind === 'train' ? epochs(records) : [],
    plannedEpochs: planned,
    gan: kind === 'gan' ? ganEpochs(records) : [],
    recall: report === undefined ? [] : curves(report, missing),
    rerank: rerank(report),
    failure,
    missing,
  };
  if ((kind === 'train' || kind === 'gan') && !log) missing.push('no log.jsonl: no training curves');
  if (kind === 'train' && log && st.steps.length === 0)
    missing.push(
      "no per-step metrics in log.jsonl (no 'step' or 'train' lines: a log written before they were logged, a trainer that logs only every print_interval updates, or a run stopped before the first)",
    );
  const logged = kind === 'gan' ? st.gan.length : st.epochs.filter((e) => e.epoch >= 0).length;
  if ((kind === 'train' || kind === 'gan') && planned !== null && log && logged < planned)
    missing.push(`${logged} of ${planned} epochs logged`);
  if (kind === 'eval' && report === undefined && !missing.some((m) => m.startsWith('eval_report.json')))
    missing.push('no eval_report.json: no recall');
  return st;
}
