// The evaluateCrossencoder stage: the original's evaluate() of train_cross.py per mode, plus what
// BLINK's main_dense reports beside it: normalized accuracy (hits / mentions whose gold is among
// the candidates: the only mentions the candidate files keep), unnormalized accuracy (hits / all
// mentions of the mode; a .t7 file does not say how many there were), the bi-encoder's accuracy on
// the same mentions (its first candidate) and the recall@k of the candidate lists. Writes
// <outputPath>/eval_report.json.
import { join } from 'node:path';

import { count, say, type TaskContext } from '../api/events.js';
import { writeFileAtomic } from '../data/atomic.js';
import { AbortError } from '../errors.js';
import { resolveSettings } from '../settings/resolve.js';
import type { EvaluateCrossencoderSettings } from '../settings/types.js';
import { scoreSource } from '../train/cross-train.js';
import { checkCrossSettings, crossWindows, openCrossModel, openModeSource } from './cross-setup.js';
import { withOutputLock } from './output-lock.js';
import { chooseDevice } from './setup.js';

export interface CrossModeReport {
  mode: string;
  /** The candidate file read. */
  file: string;
  k: number;
  /** Mentions of the mode before the candidate file dropped those without the gold; null when unknown (.t7). */
  mentions: number | null;
  /** Mentions scored: gold among the candidates. */
  scored: number;
  hits: number;
  /** hits / scored (the original's "normalized accuracy"); null without scored mentions. */
  normalizedAccuracy: number | null;
  /** hits / mentions; null when the mention count is unknown. */
  unnormalizedAccuracy: number | null;
  /** The bi-encoder's first candidate on the same mentions, normalized and unnormalized. */
  biencoderNormalizedAccuracy: number | null;
  biencoderUnnormalizedAccuracy: number | null;
  /** scored / mentions: the bi-encoder's recall@k, the ceiling of the cross-encoder. */
  recallAtK: number | null;
}

export interface EvaluateCrossencoderResult {
  modes: CrossModeReport[];
  /** The accuracy table as the CLI prints it. */
  table: string;
  /** `<outputPath>/eval_report.json`. */
  reportPath: string;
  seconds: number;
}

const ratio = (a: number, b: number | null): number | null => (b === null || b === 0 ? null : a / b);

export function formatCrossTable(modes: readonly CrossModeReport[]): string {
  const f = (x: number | null): string => (x === null ? '-' : x.toFixed(4));
  const header = ['mode', 'mentions', 'scored', 'cross norm', 'cross unnorm', 'bi norm', 'bi unnorm', 'recall@k'];
  const rows = modes.map((m) => [
    m.mode,
    m.mentions === null ? '-' : String(m.mentions),
    String(m.scored),
    f(m.normalizedAccuracy),
    f(m.unnormalizedAccuracy),
    f(m.biencoderNormalizedAccuracy),
    f(m.biencoderUnnormalizedAccuracy),
    f(m.recallAtK),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return `${[line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')}\n`;
}

export async function runEvaluateCrossencoder(input: EvaluateCrossencoderSettings, ctx: TaskContext): Promise<EvaluateCrossencoderResult> {
  const given = resolveSettings('evaluateCrossencoder', input);
  const device = chooseDevice(given);
  checkCrossSettings('evaluateCrossencoder', given);
  const t0 = performance.now();
  const opened = openCrossModel(given, device, 'inference');
  const { model } = opened;
  // The windows the checkpoint was trained with, unless given.
  const s = { ...given, ...crossWindows(input, given, opened.windows, (line) => say(ctx, line)) };
  const expect = { vocabSize: model.config.vocabSize, tokenizerHash: opened.tok.tokenizer.hash };
  // Every file is opened (and checked) before any scoring: a bad one fails with nothing written.
  const sources: ReturnType<typeof openModeSource>[] = [];
  try {
    for (const m of s.modes) sources.push(openModeSource('evaluateCrossencoder', s, m, expect, (line) => say(ctx, line)));
    const modes: CrossModeReport[] = [];
    for (let i = 0; i < s.modes.length; i++) {
      const mode = s.modes[i]!;
      const src = sources[i]!;
      let done = 0;
      const r = await scoreSource(
        model,
        src,
        {
          maxContextLength: s.maxContextLength,
          maxSeqLength: s.maxSeqLength,
          maxPairsPerBatch: s.maxPairsPerBatch,
          batchSize: s.evalBatchSize,
        },
        (d) => {
          if (ctx.stop.requested) throw new AbortError('evaluateCrossencoder: aborted');
          done += d;
          count(ctx, `score ${mode}`, done, src.count, 'mention');
        },
      );
      const total = src.totalMentions;
      const m: CrossModeReport = {
        mode,
        file: src.path,
        k: src.k,
        mentions: total,
        scored: r.mentions,
        hits: r.hits,
        normalizedAccuracy: r.normalizedAccuracy,
        unnormalizedAccuracy: ratio(r.hits, total),
        biencoderNormalizedAccuracy: ratio(r.biencoderHits, r.mentions),
        biencoderUnnormalizedAccuracy: ratio(r.biencoderHits, total),
        recallAtK: ratio(r.mentions, total),
      };
      say(
        ctx,
        `${mode}: normalized accuracy ${m.normalizedAccuracy?.toFixed(5) ?? '-'}, unnormalized ${m.unnormalizedAccuracy?.toFixed(5) ?? '-'} (${r.hits} of ${r.mentions} scored, ${total ?? '?'} mentions)`,
      );
      modes.push(m);
    }
    const table = formatCrossTable(modes);
    const reportPath = join(s.outputPath, 'eval_report.json');
    const seconds = (performance.now() - t0) / 1000;
    const report = {
      format: 'biofeg-cross-eval-report',
      version: 1,
      model: s.pathToModel,
      settings: { maxContextLength: s.maxContextLength, maxSeqLength: s.maxSeqLength, evalBatchSize: s.evalBatchSize, device },
      modes,
      table,
    };
    await withOutputLock(s.outputPath, 'evaluateCrossencoder', async () =>
      writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`),
    );
    return { modes, table, reportPath, seconds };
  } finally {
    for (const src of sources) src.close();
  }
}
