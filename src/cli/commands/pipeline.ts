// `biofeg pipeline --config FILE`: the original's whole iterative schedule (its README's order)
// from one JSON config, each stage in `<output_path>/<stage>/` with a DONE.json marker; a rerun
// skips finished stages and resumes the first unfinished one (src/train/pipeline-state.ts); a
// finished stage whose settings changed since (its flags' fingerprint) runs again, with every
// stage after it. runPipeline is the library entry: the command and `biofeg demo` both call it.
//
//   0 eval-untrained  (only with "eval_untrained": true) eval-biencoder of the model bert_model
//                     builds before any training (a built-in size: random, seeded as stage 1)
//   1 biencoder       train-biencoder, in-batch negatives, from bert_model
//   2 eval-biencoder  eval-biencoder (eval.mode, top_k)
//   3 gan             train-gan against biencoder/
//   4 generate        generate-features (unseen entities) with gan/'s newest checkpoint file
//   5 finetune        finetune (in-batch) from biencoder/ on generate/
//   6 eval-finetune   eval-biencoder of finetune/; plus top-<hard_top_k> candidates of train and
//                     valid in eval-finetune/candidates/ for the hard round
//   7 biencoder-hard  train-biencoder --hard from finetune/
//   8 generate-hard   generate-features --hard, scored with biencoder-hard/ (the GAN of stage 3,
//                     checked against biencoder/, the one it was trained with)
//   9 finetune-hard   finetune --hard from biencoder-hard/ on generate-hard/
//  10 eval-final      eval-biencoder of finetune-hard/
//
// Config keys (JSON object; flags use the original snake_case names and defaults):
//   data_path          (required) the prepared folder (train/val/test/test_seen/test_unseen.jsonl)
//   output_path        (required) the run's folder
//   entity_dict_path   default <data_path>/../documents/all_documents.json
//   bert_model         HF BERT folder or built-in size (tiny, small, base); default bert-base-uncased
//   vocab, device ("cpu"|"cuda"|"auto"), precision ("f32"|"bf16": CUDA mixed precision), threads,
//   seed, max_context_length, max_cand_length,
//   add_linear, out_dim, silent  -- shared by every stage
//   top_k              recall@k of the eval stages (default 64)
//   hard_top_k         candidates per mention (hard round) and per feature (generate --hard); default 64
//   hard_round         false stops after stage 6 (default true)
//   eval_untrained     true adds stage 0 (default false)
//   biencoder, eval, gan, generate, finetune, biencoder_hard, finetune_hard
//                      per-stage flags of that command (e.g. {"learning_rate": 1e-5,
//                      "num_train_epochs": 1, "train_batch_size": 64}); generate_hard and
//                      eval_final fall back to generate / eval. Also: dropout (training), mse_weight
//                      and cond_grad (gan), mode (eval: default "test,test_seen,test_unseen").
//                      Each command's own defaults apply (finetune: learning_rate 1e-9; gan 5e-5).
import { Option, type Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';

import { exitOnInterrupt } from '../../train/interrupt.js';
import { runStages, type StageDef, type StageEvents, type StageOutcome } from '../../train/pipeline-state.js';
import { FLAGS, type FlagName } from '../options.js';
import { runEvalBiencoder, type EvalFlags } from './eval-biencoder.js';
import { runFinetune, type FinetuneFlags } from './finetune.js';
import { runGenerateFeatures, type GenerateFlags } from './generate-features.js';
import { runTrainBiencoder, type TrainFlags } from './train-biencoder.js';
import { runTrainGan, type GanFlags } from './train-gan.js';

const COMMON_KEYS = ['data_path', 'output_path', 'entity_dict_path', 'bert_model', 'vocab', 'device', 'precision', 'threads', 'seed', 'max_context_length', 'max_cand_length', 'add_linear', 'out_dim', 'silent'] as const;
const TOP_KEYS = [...COMMON_KEYS, 'top_k', 'hard_top_k', 'hard_round', 'eval_untrained'] as const;
const SECTIONS = ['biencoder', 'eval', 'gan', 'generate', 'finetune', 'biencoder_hard', 'generate_hard', 'finetune_hard', 'eval_final'] as const;
const EXTRA_KEYS = new Set(['device', 'precision', 'threads', 'vocab', 'dropout', 'mse_weight', 'cond_grad']);

type Section = (typeof SECTIONS)[number];
type Flags = Record<string, unknown>;

export interface PipelineConfig {
  common: Flags;
  topK: number;
  hardTopK: number;
  hardRound: boolean;
  evalUntrained: boolean;
  sections: Record<Section, Flags>;
}

/** Parses and checks a config object (`where` names it in errors). */
export function parsePipelineConfig(raw: unknown, where: string): PipelineConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(TOP_KEYS as readonly string[]).includes(k) && !(SECTIONS as readonly string[]).includes(k))
      throw new Error(`${where}: unknown key "${k}" (expected one of ${[...TOP_KEYS, ...SECTIONS].join(', ')})`);
  for (const k of ['data_path', 'output_path'] as const) if (typeof o[k] !== 'string') throw new Error(`${where}: "${k}" (a string) is required`);
  const int = (k: string, d: number): number => {
    const v = o[k] ?? d;
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const common: Flags = {};
  for (const k of COMMON_KEYS) if (o[k] !== undefined) common[k] = o[k];
  const sections = {} as Record<Section, Flags>;
  for (const s of SECTIONS) {
    const v = o[s] ?? {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: "${s}" must be an object of flags`);
    for (const k of Object.keys(v)) if (!(k in FLAGS) && !EXTRA_KEYS.has(k)) throw new Error(`${where}: "${s}.${k}" is not a flag`);
    if ('output_path' in v || 'path_to_model' in v || 'resume' in v) throw new Error(`${where}: "${s}" may not set output_path, path_to_model or resume (the pipeline chooses them)`);
    sections[s] = { ...(v as Flags) };
  }
  for (const k of ['hard_round', 'eval_untrained'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new Error(`${where}: "${k}" must be true or false`);
  return { common, topK: int('top_k', 64), hardTopK: int('hard_top_k', 64), hardRound: o['hard_round'] !== false, evalUntrained: o['eval_untrained'] === true, sections };
}

export function readPipelineConfig(file: string): PipelineConfig {
  if (!existsSync(file)) throw new Error(`${file}: not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: expected JSON (${(e as Error).message})`);
  }
  return parsePipelineConfig(raw, file);
}

/** Every flag at its original default, then command defaults, the shared keys, the section, the stage's own. */
function flagsFor(c: PipelineConfig, section: Flags, cmdDefaults: Flags, own: Flags): Flags {
  const f: Flags = {};
  for (const [k, spec] of Object.entries(FLAGS) as Array<[FlagName, { kind: string; default?: unknown }]>) f[k] = spec.kind === 'switch' ? false : spec.default;
  return { ...f, device: 'auto', ...cmdDefaults, ...c.common, ...section, ...own };
}

export interface PipelineResult {
  stages: StageOutcome[];
}

/** What an eval stage records in its DONE.json (and returns): the table and recall per mode. */
export interface EvalSummary {
  table: string;
  modes: Array<{ mode: string; total: number; recall: Record<string, number | null> }>;
}

const evalSummary = (r: Awaited<ReturnType<typeof runEvalBiencoder>>): EvalSummary => ({
  table: r.table, modes: r.modes.map((m) => ({ mode: m.mode, total: m.recall.total, recall: m.recall.recall })),
});

export interface PipelineHooks {
  /** Every line: stage headers and what the commands print (default: stdout). */
  say?: (s: string) => void;
  /** Stage progress (start / done or skipped), e.g. for a progress display or a summary. */
  events?: StageEvents;
}

/** Flags that change how a stage runs, not what it computes: left out of its fingerprint. */
const NOT_FINGERPRINTED = new Set(['silent', 'threads', 'device', 'no_cuda', 'resume', 'output_path', 'workers']);

/**
 * A stage's settings as stable JSON (sorted keys, paths under the run folder written relative to
 * it, so the folder may move): kept in DONE.json; a finished stage whose settings changed runs again.
 */
export function stageFingerprint(root: string, flags: Flags, extra?: Flags): string {
  const norm = (v: unknown): unknown => {
    if (typeof v === 'string') return v === root ? '<output_path>' : v.startsWith(root + sep) ? `<output_path>/${v.slice(root.length + 1)}` : v;
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, norm((v as Flags)[k])]));
    return v;
  };
  const strip = (f: Flags) => Object.fromEntries(Object.entries(f).filter(([k, v]) => !NOT_FINGERPRINTED.has(k) && v !== undefined));
  const kept = strip(flags);
  // extra: more flags the stage runs with (eval-finetune's candidate search).
  return JSON.stringify(norm(extra === undefined ? kept : { flags: kept, extra: strip(extra) }));
}

/** The stage names runPipeline runs for `c`, in order. */
export function pipelineStageNames(c: PipelineConfig): string[] {
  return [
    ...(c.evalUntrained ? ['eval-untrained'] : []), 'biencoder', 'eval-biencoder', 'gan', 'generate', 'finetune', 'eval-finetune',
    ...(c.hardRound ? ['biencoder-hard', 'generate-hard', 'finetune-hard', 'eval-final'] : []),
  ];
}

/** Runs the schedule of `c` (see the top of this file); a function as `hooks` is the `say` hook. */
export async function runPipeline(c: PipelineConfig, hooks: PipelineHooks | ((s: string) => void) = {}): Promise<PipelineResult> {
  const h: PipelineHooks = typeof hooks === 'function' ? { say: hooks } : hooks;
  const say = h.say ?? ((s: string) => process.stdout.write(`${s}\n`));
  const root = c.common['output_path'] as string;
  const dir = (s: string) => join(root, s);
  const S = c.sections;
  const evalMode = 'test,test_seen,test_unseen';
  // Every stage's flags are fixed up front: they are its fingerprint in DONE.json (see stageFingerprint).
  type Def = StageDef<undefined>;
  const stage = (name: string, f: Flags, run: (f: Flags, resume: boolean) => Promise<unknown>, extra?: Flags): Def =>
    ({ name, fingerprint: stageFingerprint(root, f, extra), run: (_out, _ctx, resume) => run(f, resume) });
  const train = (name: string, section: Flags, own: Flags): Def =>
    stage(name, flagsFor(c, section, {}, { ...own, output_path: dir(name) }), async (f, resume) => {
      const r = await runTrainBiencoder({ ...f, resume } as unknown as TrainFlags, { say });
      return { accuracies: r.accuracies, bestEpoch: r.bestEpoch, updates: r.steps };
    });
  const evaluate = (name: string, section: Flags, model: string | undefined, extra?: { flags: Flags; run: (f: Flags) => Promise<unknown> }): Def =>
    // model undefined: the bi-encoder that bert_model builds (stage 0).
    stage(name, flagsFor(c, section, { mode: evalMode, poolDtype: 'f32' }, { ...(model ? { path_to_model: dir(model) } : {}), output_path: dir(name), top_k: c.topK }), async (f) => {
      const r = await runEvalBiencoder(f as unknown as EvalFlags, { stdout: say, stderr: () => undefined });
      return { ...evalSummary(r), ...(extra ? { candidates: await extra.run(extra.flags) } : {}) };
    }, extra?.flags);
  const generate = (name: string, section: Flags, own: Flags): Def =>
    stage(name, flagsFor(c, section, { top_k: c.hardTopK }, { ...own, output_path: dir(name) }), async (f) => {
      const r = await runGenerateFeatures(f as unknown as GenerateFlags, { say });
      return { path: r.path, count: r.header.count, topK: r.header.topK, inserted: r.header.inserted };
    });
  const tune = (name: string, section: Flags, own: Flags): Def =>
    stage(name, flagsFor(c, section, { learning_rate: 1e-9 }, { ...own, output_path: dir(name) }), async (f, resume) => {
      const r = await runFinetune({ ...f, resume } as unknown as FinetuneFlags, { say });
      return { accuracies: r.accuracies, bestEpoch: r.bestEpoch, updates: r.steps };
    });
  const gan = stage('gan', flagsFor(c, S.gan, { learning_rate: 5e-5, mse_weight: 0, cond_grad: 'original' }, { path_to_model: dir('biencoder'), output_path: dir('gan') }), async (f, resume) => {
    const r = await runTrainGan({ ...f, resume } as unknown as GanFlags, { say });
    if (r.saved.length === 0 && !resume) throw new Error(`gan: no checkpoint was saved (num_train_epochs ${String(f['num_train_epochs'])}, save_every ${String(f['save_every'])}, start_saving ${String(f['start_saving'])})`);
    return { accuracies: r.accuracies, saved: r.saved };
  });
  // Hard negatives for the next round: top-k of train and valid with the fine-tuned model.
  const candidates = c.hardRound
    ? {
      flags: flagsFor(c, S.eval, { poolDtype: 'f32' }, { path_to_model: dir('finetune'), output_path: join(dir('eval-finetune'), 'candidates'), top_k: c.hardTopK, mode: 'train,valid', save_topk_result: true }),
      run: async (f: Flags) => evalSummary(await runEvalBiencoder(f as unknown as EvalFlags, { stdout: () => undefined, stderr: () => undefined })).modes,
    }
    : undefined;
  const stages: Def[] = [
    ...(c.evalUntrained ? [evaluate('eval-untrained', S.eval, undefined)] : []),
    train('biencoder', S.biencoder, { hard: false }),
    evaluate('eval-biencoder', S.eval, 'biencoder'),
    gan,
    generate('generate', S.generate, { hard: false, gan_path: dir('gan'), path_to_model: dir('biencoder') }),
    tune('finetune', S.finetune, { hard: false, path_to_model: dir('biencoder'), generate_data_path: dir('generate') }),
    evaluate('eval-finetune', S.eval, 'finetune', candidates),
  ];
  if (c.hardRound) {
    stages.push(
      train('biencoder-hard', S.biencoder_hard, { hard: true, path_to_model: dir('finetune'), data_path: join(dir('eval-finetune'), 'candidates', `top${c.hardTopK}_candidates`) }),
      generate('generate-hard', { ...S.generate, ...S.generate_hard }, { hard: true, gan_path: dir('gan'), path_to_model: dir('biencoder-hard'), gan_biencoder: dir('biencoder') }),
      tune('finetune-hard', S.finetune_hard, { hard: true, path_to_model: dir('biencoder-hard'), generate_data_path: dir('generate-hard') }),
      evaluate('eval-final', { ...S.eval, ...S.eval_final }, 'finetune-hard'),
    );
  }
  const outcomes = await runStages(root, stages, undefined, say, h.events);
  return { stages: outcomes };
}

export function register(program: Command): void {
  const cmd = program
    .command('pipeline')
    .description("run the original's whole schedule from one JSON config: bi-encoder -> eval -> GAN -> generate -> finetune -> eval, then the hard-negative round; reruns skip finished stages")
    .addOption(new Option('--config <file>', 'JSON config (keys: see src/cli/commands/pipeline.ts or the README)').makeOptionMandatory())
    .action(async () => {
      try {
        await runPipeline(readPipelineConfig(cmd.opts<{ config: string }>().config));
      } catch (e) {
        exitOnInterrupt(e);
      }
    });
}
