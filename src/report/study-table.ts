// The real-data study's table (issue 22, scripts/real-data.sh): for each corpus folder of a study
// root (`<root>/<corpus>/seed<N>/`), recall@k on test, seen and unseen of every stage row, as the
// mean and sample standard deviation over the seeds that have the stage. Reads the eval stages
// with readStage (the report's reader), so a missing or damaged file is said, not guessed.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { InputError } from '../errors.js';
import { readStage } from './stage.js';
import type { StageData } from './types.js';

/** The rows, in order: the folder of each under a seed folder. */
export const STUDY_ROWS = [
  { label: 'untrained (random BERT)', stage: 'eval-random' },
  { label: 'zero-shot (pretrain-synonyms)', stage: 'eval-zero-shot' },
  { label: 'in-batch', stage: 'eval-biencoder' },
  { label: '+ GAN finetune', stage: 'eval-finetune' },
  { label: '+ hard round', stage: 'eval-final' },
  { label: '+ cross-encoder (r@1 only)', stage: 'eval-crossencoder' },
] as const;
export const STUDY_MODES = ['test', 'test_seen', 'test_unseen'] as const;
export const STUDY_KS = [1, 8, 64] as const;

export interface Spread {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for one seed. */
  std: number;
  min: number;
  max: number;
  /** Seeds that gave a value. */
  n: number;
}

export interface StudyRow {
  label: string;
  stage: string;
  /** cells[mode][k]; null where no seed has the value (the cross-encoder has r@1 only). */
  cells: Record<string, Record<string, Spread | null>>;
  /** Mean wall time of the stage over the seeds (DONE.json's), when recorded. */
  seconds: number | null;
}

export interface StudyCorpus {
  corpus: string;
  seeds: string[];
  rows: StudyRow[];
  /** What was absent or unreadable, `seed1/eval-final: ...`. */
  missing: string[];
}

export function spreadOf(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: Math.min(...values), max: Math.max(...values), n };
}

/** recall@k of a mode in one stage: the bi-encoder's curve, or the cross-encoder's accuracy at k = 1. */
function recallOf(st: StageData, mode: string, k: number): number | null {
  const curve = st.recall.find((m) => m.mode === mode);
  if (curve !== undefined && st.rerank.length === 0) return curve.ranks[String(k)] ?? null;
  const rr = st.rerank.find((m) => m.mode === mode);
  return rr !== undefined && k === 1 ? rr.cross : null;
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();
const seedNumber = (name: string): number => Number(name.slice('seed'.length));

/** One corpus folder: its seed<N> subfolders. */
export function readStudyCorpus(dir: string, corpus: string): StudyCorpus {
  const seeds = readdirSync(dir)
    .filter((n) => /^seed\d+$/.test(n) && isDir(join(dir, n)))
    .sort((a, b) => seedNumber(a) - seedNumber(b));
  const missing: string[] = [];
  const rows = STUDY_ROWS.map(({ label, stage }): StudyRow => {
    const read = seeds.flatMap((s) => {
      const d = join(dir, s, stage);
      if (!isDir(d)) {
        missing.push(`${s}/${stage}: not run`);
        return [];
      }
      const st = readStage(d, stage);
      if (st.status !== 'done' && st.recall.length === 0 && st.rerank.length === 0) {
        missing.push(`${s}/${stage}: ${st.missing.join('; ') || st.status}`);
        return [];
      }
      return [st];
    });
    const cells: StudyRow['cells'] = {};
    for (const mode of STUDY_MODES) {
      cells[mode] = {};
      for (const k of STUDY_KS)
        cells[mode]![String(k)] = spreadOf(read.map((st) => recallOf(st, mode, k)).filter((v): v is number => v !== null));
    }
    const secs = read.map((st) => st.seconds).filter((v): v is number => v !== null);
    return { label, stage, cells, seconds: secs.length ? secs.reduce((a, b) => a + b, 0) / secs.length : null };
  });
  return { corpus, seeds, rows, missing };
}

/** Every corpus folder of a study root that has seed folders, by name. */
export function readStudy(root: string): StudyCorpus[] {
  if (!isDir(root)) throw new InputError(root, undefined, 'no such folder (expected the study root of scripts/real-data.sh)');
  const out = readdirSync(root)
    .filter((n) => isDir(join(root, n)) && readdirSync(join(root, n)).some((s) => /^seed\d+$/.test(s)))
    .sort()
    .map((n) => readStudyCorpus(join(root, n), n));
  if (out.length === 0) throw new InputError(root, undefined, 'expected <corpus>/seed<N>/ folders (scripts/real-data.sh writes them)');
  return out;
}

const cell = (s: Spread | null): string => (s === null ? '—' : s.n > 1 ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : s.mean.toFixed(3));

/** The README's markdown: one table a corpus, mean ± sample std over the seeds (n given). */
export function formatStudy(corpora: readonly StudyCorpus[]): string {
  const head = ['stage', ...STUDY_MODES.flatMap((m) => STUDY_KS.map((k) => `${m.replace('test_', '')} r@${k}`))];
  const parts: string[] = [];
  for (const c of corpora) {
    parts.push(
      `### ${c.corpus} (${c.seeds.length} seed${c.seeds.length === 1 ? '' : 's'}: ${c.seeds.join(', ')}; mean ± std, sample, n - 1)`,
    );
    parts.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
    for (const r of c.rows) {
      const n = Math.max(0, ...STUDY_MODES.flatMap((m) => STUDY_KS.map((k) => r.cells[m]![String(k)]?.n ?? 0)));
      const label = n > 0 && n < c.seeds.length ? `${r.label} (${n} of ${c.seeds.length} seeds)` : r.label;
      parts.push(`| ${[label, ...STUDY_MODES.flatMap((m) => STUDY_KS.map((k) => cell(r.cells[m]![String(k)] ?? null)))].join(' | ')} |`);
    }
    if (c.missing.length) parts.push('', `missing: ${c.missing.join('; ')}`);
    parts.push('');
  }
  return parts.join('\n');
}
