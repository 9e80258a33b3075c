// writeReport: a run folder (a pipeline's or one stage's) -> one self-contained report.html.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

import type { EngineFacts } from '../api/info.js';
import { writeFileAtomic } from '../data/atomic.js';
import { BiofegError, SettingsError } from '../errors.js';
import { buildCharts } from './charts.js';
import { renderPage } from './html.js';
import { readRun } from './read.js';
import type { RunData } from './types.js';

export type { EpochPoint, GanEpoch, ModeCurve, RerankMode, RunData, StageData, StageKind, StageStatus, StepPoint } from './types.js';

export interface ReportSettings {
  /** A pipeline's output folder or one stage's output folder. */
  runDir: string;
  /** The HTML file to write (default `<runDir>/report.html`). */
  out?: string;
  /**
   * The engine and machine facts to show; default: `info()` of this process. `null` leaves them out
   * (with the reason shown), e.g. where no addon can load.
   */
  engine?: EngineFacts | null;
  /**
   * The stages the run is to have, in order (runPipeline passes its schedule): those without a
   * folder are shown as not run yet. Default: from `<runDir>/pipeline.json` when there is one.
   */
  stages?: readonly string[];
}

export interface ReportResult {
  /** The file written. */
  path: string;
  /** Stages shown, and of them finished. */
  stages: number;
  finished: number;
  /** Charts in the page (each has data to draw). */
  charts: number;
  /** What the run's files lack, one line each (`stage: what`). */
  missing: string[];
}

/** Chart.js's minified UMD bundle, read from the installed package (inlined: the page needs no network). */
export function chartJsSource(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  for (const f of ['chart.umd.min.js', 'chart.umd.js']) {
    const p = join(dirname(main), f);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new BiofegError('ERR_BIOFEG_INTERNAL', `report: no Chart.js UMD bundle beside ${main} (is the chart.js package installed whole?)`);
}

async function engineFacts(given: EngineFacts | null | undefined): Promise<Record<string, unknown> | string> {
  if (given === null) return 'not asked for';
  if (given !== undefined) return { ...given };
  try {
    // Loaded only here: reading a run needs no addon, and a report of a run made elsewhere still works without one.
    const { info } = await import('../api/info.js');
    return { ...info() };
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

const REPORT_KEYS = new Set(['runDir', 'out', 'engine', 'stages']);

/** JavaScript callers get a SettingsError naming the field, not a TypeError from deep inside. */
function checkReportSettings(s: unknown): asserts s is ReportSettings {
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    throw new SettingsError(
      '(settings)',
      `writeReport: expected a settings object { runDir, out?, engine?, stages? }, got ${s === null ? 'null' : typeof s}`,
    );
  const o = s as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!REPORT_KEYS.has(k)) throw new SettingsError(k, `writeReport: unknown setting '${k}' (expected runDir, out, engine, stages)`);
  if (typeof o['runDir'] !== 'string' || o['runDir'] === '')
    throw new SettingsError('runDir', `writeReport: runDir must be a non-empty string (a run folder), got ${typeof o['runDir']}`);
  if (o['out'] !== undefined && (typeof o['out'] !== 'string' || o['out'] === ''))
    throw new SettingsError('out', `writeReport: out must be a non-empty string (the HTML file to write), got ${typeof o['out']}`);
  const engine = o['engine'];
  if (engine !== undefined && engine !== null && (typeof engine !== 'object' || Array.isArray(engine)))
    throw new SettingsError('engine', `writeReport: engine must be info()'s object, null or absent, got ${typeof engine}`);
  const stages = o['stages'];
  if (stages !== undefined && (!Array.isArray(stages) || !stages.every((n) => typeof n === 'string' && n !== '')))
    throw new SettingsError('stages', 'writeReport: stages must be an array of stage folder names (non-empty strings)');
}

/** Reads a run folder (throws InputError when it is not one). Exposed for tools and tests. */
export { readRun };

/**
 * Writes one self-contained HTML report of a run folder: per stage loss (raw and smoothed),
 * learning rate, gradient norm, throughput and wall time; the GAN's losses, gradient penalty,
 * Wasserstein estimate and MSE per epoch; recall@k per mode of every evaluated stage; each stage's
 * settings; the machine and engine. A run with missing or partial files shows what exists and
 * lists what is missing; a folder that is not a run is an `InputError` (`ERR_BIOFEG_INPUT`).
 */
export async function writeReport(settings: ReportSettings): Promise<ReportResult> {
  checkReportSettings(settings);
  const run: RunData = readRun(settings.runDir, settings.stages);
  const charts = buildCharts(run);
  const html = renderPage({
    run,
    charts,
    engine: await engineFacts(settings.engine),
    generatedAt: new Date().toISOString(),
    chartJs: chartJsSource(),
  });
  const path = resolve(settings.out ?? join(run.root, 'report.html'));
  writeFileAtomic(path, html);
  return {
    path,
    stages: run.stages.length,
    finished: run.stages.filter((s) => s.status === 'done').length,
    charts: charts.length,
    missing: [...run.missing, ...run.stages.flatMap((s) => s.missing.map((m) => `${s.name}: ${m}`))],
  };
}
