// The original's whole iterative schedule (its README's order) from one config, each stage in
// `<outputPath>/<stage>/` with a DONE.json marker; a rerun skips finished stages and resumes the
// first unfinished one (src/train/pipeline-state.ts); a finished stage whose settings changed
// since (its settings' fingerprint) runs again, with every stage after it.
//
//   0 eval-untrained  (evalUntrained) evaluateBiencoder of the model bertModel builds
//   1 biencoder       trainBiencoder, in-batch negatives, from bertModel
//   2 eval-biencoder  evaluateBiencoder (eval.modes, topK)
//   3 gan             trainGan against biencoder/
//   4 generate        generateFeatures (unseen entities) with gan/'s newest checkpoint file
//   5 finetune        finetune (in-batch) from biencoder/ on generate/
//   6 eval-finetune   evaluateBiencoder of finetune/; plus top-<hardTopK> candidates of train and
//                     valid in eval-finetune/candidates/ for the hard round
//   7 biencoder-hard  trainBiencoder with hard from finetune/
//   8 generate-hard   generateFeatures with hard, scored with biencoder-hard/ (the GAN of stage 3,
//                     checked against biencoder/, the one it was trained with)
//   9 finetune-hard   finetune with hard from biencoder-hard/ on generate-hard/
//  10 eval-final      evaluateBiencoder of finetune-hard/
//  with crossencoder (after the last stage above):
//  11 cross-candidates  evaluateBiencoder of the last bi-encoder with saveTopkResult: the top-
//                       crossTopK candidates of train, valid and the eval modes
//  12 crossencoder      trainCrossencoder on them (from bertModel)
//  13 eval-crossencoder evaluateCrossencoder of crossencoder/ on the eval modes
import { join, sep } from 'node:path';

import type { TaskContext } from '../api/events.js';
import { SettingsError } from '../errors.js';
import { FIELDS } from '../settings/fields.js';
import { resolveSettings } from '../settings/resolve.js';
import { STAGES, type InputSettings, type StageName } from '../settings/stages.js';
import { runEvaluateCrossencoder } from '../stages/evaluate-cross.js';
import { runEvaluateBiencoder, type ModeRecall } from '../stages/evaluate.js';
import { runFinetune } from '../stages/finetune.js';
import { runGenerateFeatures } from '../stages/generate-features.js';
import { runTrainBiencoder } from '../stages/train-biencoder.js';
import { runTrainCrossencoder } from '../stages/train-cross.js';
import { runTrainGan } from '../stages/train-gan.js';
import { runStages, type StageDef, type StageOutcome } from '../train/pipeline-state.js';
import { withOutputLock } from '../stages/output-lock.js';
import { writeReport } from '../report/index.js';
import { CHOSEN, type PipelineConfig } from './config.js';

export interface PipelineResult {
  stages: StageOutcome[];
  /** `<outputPath>/report.html` (writeReport), rewritten at the end of every run; absent if it could not be written. */
  reportPath?: string;
}

/** What an eval stage records in its DONE.json (and returns): the table and recall per mode. */
export interface EvalSummary {
  table: string;
  modes: ModeRecall[];
}

/** Settings that change how a stage runs, not what it computes: left out of its fingerprint. */
const NOT_FINGERPRINTED = new Set(['threads', 'device', 'resume', 'outputPath', 'workers']);

/**
 * A stage's settings as stable JSON (sorted keys, paths under the run folder written relative to
 * it, so the folder may move): kept in DONE.json; a finished stage whose settings changed runs again.
 */
export function stageFingerprint(root: string, settings: object, extra?: object): string {
  const norm = (v: unknown): unknown => {
    if (typeof v === 'string')
      return v === root ? '<output_path>' : v.startsWith(root + sep) ? `<output_path>/${v.slice(root.length + 1)}` : v;
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, norm((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  const strip = (f: object) => Object.fromEntries(Object.entries(f).filter(([k, v]) => !NOT_FINGERPRINTED.has(k) && v !== undefined));
  const kept = strip(settings);
  return JSON.stringify(norm(extra === undefined ? kept : { settings: kept, extra: strip(extra) }));
}

/** The shared keys a stage knows, then its section, then what the pipeline sets. */
function compose<K extends StageName>(
  stage: K,
  c: PipelineConfig,
  section: object | undefined,
  own: Record<string, unknown>,
  sectionName: string,
): InputSettings[K] {
  const fields = new Set<string>(STAGES[stage].fields);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (fields.has(k) && v !== undefined && typeof v !== 'object') out[k] = v;
  for (const [k, v] of Object.entries(section ?? {})) {
    if (CHOSEN.includes(k))
      throw new SettingsError(`${sectionName}.${k}`, `pipeline: "${sectionName}" may not set ${k} (the pipeline chooses it)`);
    if (!fields.has(k))
      throw new SettingsError(
        `${sectionName}.${k}`,
        `pipeline: "${sectionName}.${k}" (--${FIELDS[k as keyof typeof FIELDS]?.flag ?? k}) is not a setting of ${stage}`,
      );
    out[k] = v;
  }
  Object.assign(out, own);
  // Checked now, before any stage runs: a type error in the last stage's section fails at once.
  return resolveSettings(stage, out) as InputSettings[K];
}

/** Runs the schedule of `c` (see the top of this file) in this thread. */
export async function runPipelineHere(c: PipelineConfig, ctx: TaskContext): Promise<PipelineResult> {
  const root = c.outputPath;
  const dir = (s: string) => join(root, s);
  const topK = c.topK ?? 64,
    hardTopK = c.hardTopK ?? 64,
    hardRound = c.hardRound !== false;
  const say = (text: string) => ctx.emit({ type: 'message', level: 'info', text });
  const evalModes = ['test', 'test_seen', 'test_unseen'];
  type Def = StageDef<undefined>;
  const stage = <S extends object>(name: string, s: S, run: (s: S, resume: boolean) => Promise<unknown>, extra?: object): Def => ({
    name,
    fingerprint: stageFingerprint(root, s, extra),
    run: (_out, _ctx, resume) => run(s, resume),
  });
  const summary = (r: { table: string; modes: ModeRecall[] }): EvalSummary => ({
    table: r.table,
    modes: r.modes.map((m) => ({ mode: m.mode, total: m.total, recall: m.recall })),
  });

  const train = (name: string, section: PipelineConfig['biencoder'], own: Record<string, unknown>): Def =>
    stage(name, compose('trainBiencoder', c, section, { ...own, outputPath: dir(name) }, name), async (s, resume) => {
      const r = await runTrainBiencoder({ ...s, resume }, ctx);
      return { accuracies: r.accuracies, bestEpoch: r.bestEpoch, updates: r.steps };
    });
  const evaluate = (
    name: string,
    section: PipelineConfig['eval'],
    model: string | undefined,
    candidates?: { settings: InputSettings['evaluateBiencoder'] },
  ): Def =>
    // model undefined: the bi-encoder that bertModel builds (stage 0).
    stage(
      name,
      compose(
        'evaluateBiencoder',
        c,
        { modes: evalModes, ...section },
        { ...(model ? { pathToModel: dir(model) } : {}), outputPath: dir(name), topK },
        name,
      ),
      async (s) => {
        const r = summary(await runEvaluateBiencoder(s, ctx));
        if (!candidates) return r;
        const quiet: TaskContext = { emit: () => undefined, stop: ctx.stop };
        return {
          ...r,
          candidates: (await runEvaluateBiencoder(candidates.settings, quiet)).modes.map((m) => ({
            mode: m.mode,
            total: m.total,
            recall: m.recall,
          })),
        };
      },
      candidates?.settings,
    );
  const generate = (name: string, section: PipelineConfig['generate'], own: Record<string, unknown>): Def =>
    stage(name, compose('generateFeatures', c, { topK: hardTopK, ...section }, { ...own, outputPath: dir(name) }, name), async (s) => {
      const r = await runGenerateFeatures(s, ctx);
      return { path: r.path, count: r.count, topK: r.topK, inserted: r.inserted };
    });
  const tune = (name: string, section: PipelineConfig['finetune'], own: Record<string, unknown>): Def =>
    stage(name, compose('finetune', c, section, { ...own, outputPath: dir(name) }, name), async (s, resume) => {
      const r = await runFinetune({ ...s, resume }, ctx);
      return { accuracies: r.accuracies, bestEpoch: r.bestEpoch, updates: r.steps };
    });
  const gan = stage(
    'gan',
    compose('trainGan', c, c.gan, { pathToModel: dir('biencoder'), outputPath: dir('gan') }, 'gan'),
    async (s, resume) => {
      const r = await runTrainGan({ ...s, resume }, ctx);
      if (r.saved.length === 0 && !resume)
        throw new SettingsError(
          'gan.numTrainEpochs',
          `gan: no checkpoint was saved (numTrainEpochs ${s.numTrainEpochs}, saveEvery ${s.saveEvery}, startSaving ${s.startSaving})`,
        );
      return { accuracies: r.accuracies, saved: r.saved };
    },
  );
  // Hard negatives for the next round: top-k of train and valid with the fine-tuned model.
  const candidates = hardRound
    ? {
        settings: compose(
          'evaluateBiencoder',
          c,
          c.eval,
          {
            pathToModel: dir('finetune'),
            outputPath: join(dir('eval-finetune'), 'candidates'),
            topK: hardTopK,
            modes: ['train', 'valid'],
            saveTopkResult: true,
          },
          'eval',
        ),
      }
    : undefined;
  const stages: Def[] = [
    ...(c.evalUntrained === true ? [evaluate('eval-untrained', c.eval, undefined)] : []),
    train('biencoder', c.biencoder, { hard: false }),
    evaluate('eval-biencoder', c.eval, 'biencoder'),
    gan,
    generate('generate', c.generate, { hard: false, ganPath: dir('gan'), pathToModel: dir('biencoder') }),
    tune('finetune', c.finetune, { hard: false, pathToModel: dir('biencoder'), generateDataPath: dir('generate') }),
    evaluate('eval-finetune', c.eval, 'finetune', candidates),
  ];
  if (hardRound) {
    stages.push(
      train('biencoder-hard', c.biencoderHard, {
        hard: true,
        pathToModel: dir('finetune'),
        dataPath: join(dir('eval-finetune'), 'candidates', `top${hardTopK}_candidates`),
      }),
      generate(
        'generate-hard',
        { ...c.generate, ...c.generateHard },
        { hard: true, ganPath: dir('gan'), pathToModel: dir('biencoder-hard'), ganBiencoder: dir('biencoder') },
      ),
      tune('finetune-hard', c.finetuneHard, { hard: true, pathToModel: dir('biencoder-hard'), generateDataPath: dir('generate-hard') }),
      evaluate('eval-final', { ...c.eval, ...c.evalFinal }, 'finetune-hard'),
    );
  }
  if (c.crossencoder === true) {
    // The pair settings of training hold for evaluation too.
    const pairKeys = (x: PipelineConfig['cross']) =>
      Object.fromEntries(
        Object.entries(x ?? {}).filter(([k]) => ['maxContextLength', 'maxSeqLength', 'maxPairsPerBatch', 'dropout'].includes(k)),
      );
    const crossTopK = c.crossTopK ?? 64;
    const last = hardRound ? 'finetune-hard' : 'finetune';
    const candSettings = compose(
      'evaluateBiencoder',
      c,
      { ...c.eval, ...c.evalFinal },
      {
        pathToModel: dir(last),
        outputPath: dir('cross-candidates'),
        topK: crossTopK,
        modes: ['train', 'valid', ...(c.evalCross?.modes ?? evalModes)],
        saveTopkResult: true,
      },
      'eval',
    );
    // No table: the recall is eval-final's (or eval-finetune's); the files are what counts.
    stages.push(
      stage('cross-candidates', candSettings, async (s) => ({
        modes: (await runEvaluateBiencoder(s, ctx)).modes.map((m) => ({ mode: m.mode, total: m.total, candidateFile: m.candidateFile })),
      })),
      stage(
        'crossencoder',
        compose(
          'trainCrossencoder',
          c,
          c.cross,
          { dataPath: join(dir('cross-candidates'), `top${crossTopK}_candidates`), outputPath: dir('crossencoder'), addLinear: true },
          'cross',
        ),
        async (s, resume) => {
          const r = await runTrainCrossencoder({ ...s, resume }, ctx);
          return { accuracies: r.accuracies, bestEpoch: r.bestEpoch, updates: r.steps, mentions: r.mentions, k: r.k };
        },
      ),
      stage(
        'eval-crossencoder',
        compose(
          'evaluateCrossencoder',
          c,
          { modes: evalModes, ...pairKeys(c.cross), ...c.evalCross },
          {
            dataPath: join(dir('cross-candidates'), `top${crossTopK}_candidates`),
            pathToModel: dir('crossencoder'),
            outputPath: dir('eval-crossencoder'),
            addLinear: true,
          },
          'evalCross',
        ),
        async (s) => {
          const r = await runEvaluateCrossencoder(s, ctx);
          return { table: r.table, modes: r.modes };
        },
      ),
    );
  }
  // The report is rewritten after every run, a failed or interrupted one too (it shows what exists).
  const report = async (): Promise<string | undefined> => {
    try {
      const r = await writeReport({ runDir: root, stages: stages.map((st) => st.name) });
      ctx.emit({ type: 'message', level: 'detail', text: `report: ${r.path}` });
      return r.path;
    } catch (e) {
      say(`report: not written (${e instanceof Error ? e.message : String(e)})`);
      return undefined;
    }
  };
  const { outcomes, reportPath } = await withOutputLock(root, 'runPipeline', async () => {
    const outcomes = await runStages(root, stages, undefined, say, {
      start: (e) =>
        ctx.emit({
          type: 'stage',
          stage: e.stage,
          index: e.index,
          total: e.total,
          status: 'start',
          dir: e.dir,
          resume: e.resume,
          seconds: 0,
        }),
      end: (e) =>
        ctx.emit({
          type: 'stage',
          stage: e.stage,
          index: e.index,
          total: e.total,
          status: e.skipped ? 'skipped' : 'done',
          dir: e.dir,
          resume: false,
          seconds: e.seconds,
        }),
    }).catch(async (e: unknown) => {
      await report();
      throw e;
    });
    return { outcomes, reportPath: await report() };
  });
  return { stages: outcomes, ...(reportPath !== undefined ? { reportPath } : {}) };
}
