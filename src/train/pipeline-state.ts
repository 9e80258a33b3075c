// Done-markers of the pipeline's stages: `<output>/<stage>/DONE.json` holds what the stage
// returned and its settings' fingerprint. A rerun skips finished stages whose settings are
// unchanged; the first unfinished one resumes in its folder (a finished one whose settings
// changed starts afresh), and everything after a stage that ran again starts from scratch.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomic } from '../data/atomic.js';

export const DONE_FILE = 'DONE.json';

export interface DoneMarker {
  stage: string;
  finishedAt: string;
  seconds: number;
  result: unknown;
  /** The stage's settings when it ran (StageDef.fingerprint). */
  fingerprint?: string;
}

export function readDone(stageDir: string): DoneMarker | undefined {
  const p = join(stageDir, DONE_FILE);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as DoneMarker;
  } catch {
    return undefined; // a damaged marker: the stage runs again
  }
}

export function writeDone(stageDir: string, m: DoneMarker): void {
  writeFileAtomic(join(stageDir, DONE_FILE), `${JSON.stringify(m, null, 2)}\n`);
}

export interface StageDef<C> {
  name: string;
  /** Its settings (e.g. stable JSON of its flags): a finished stage whose marker holds others runs again. */
  fingerprint?: string;
  /** Runs the stage in `dir`; `resume` = continue a partial run there. Returns the marker's result. */
  run: (dir: string, ctx: C, resume: boolean) => Promise<unknown>;
}

export interface StageOutcome {
  stage: string;
  dir: string;
  skipped: boolean;
  result: unknown;
  seconds: number;
}

/** Where a stage stands, for progress displays: before it runs (`start`) and when it is done or skipped (`end`). */
export interface StageEvents {
  start?: (e: { index: number; total: number; stage: string; dir: string; resume: boolean }) => void;
  end?: (e: StageOutcome & { index: number; total: number }) => void;
}

/** Runs `stages` in order under `root`, skipping finished ones as described above. */
export async function runStages<C>(
  root: string,
  stages: readonly StageDef<C>[],
  ctx: C,
  say: (s: string) => void,
  events: StageEvents = {},
): Promise<StageOutcome[]> {
  const out: StageOutcome[] = [];
  let rerun = false;
  for (const [i, st] of stages.entries()) {
    const dir = join(root, st.name);
    let done = rerun ? undefined : readDone(dir);
    if (done && st.fingerprint !== undefined && done.fingerprint !== st.fingerprint) {
      say(`[${i + 1}/${stages.length}] ${st.name}: settings changed since it finished (${join(dir, DONE_FILE)}), running it again`);
      rmSync(dir, { recursive: true, force: true });
      done = undefined;
    }
    if (done) {
      say(`[${i + 1}/${stages.length}] ${st.name}: done (${join(dir, DONE_FILE)}), skipped`);
      const o = { stage: st.name, dir, skipped: true, result: done.result, seconds: 0 };
      out.push(o);
      events.end?.({ ...o, index: i, total: stages.length });
      continue;
    }
    // After a stage that ran again, later stages' outputs are stale: start them afresh.
    if (rerun && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    const resume = !rerun && existsSync(dir);
    say(`[${i + 1}/${stages.length}] ${st.name}${resume ? ' (resuming)' : ''}`);
    events.start?.({ index: i, total: stages.length, stage: st.name, dir, resume });
    const t0 = performance.now();
    const result = await st.run(dir, ctx, resume);
    const seconds = (performance.now() - t0) / 1000;
    writeDone(dir, {
      stage: st.name,
      finishedAt: new Date().toISOString(),
      seconds,
      result,
      ...(st.fingerprint !== undefined ? { fingerprint: st.fingerprint } : {}),
    });
    const o = { stage: st.name, dir, skipped: false, result, seconds };
    out.push(o);
    events.end?.({ ...o, index: i, total: stages.length });
    rerun = true;
  }
  return out;
}
