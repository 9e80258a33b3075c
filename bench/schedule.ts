// node --import tsx bench/schedule.ts [--scale 0.005 --entity-scale 0.02 --device cuda --precision bf16 --bert-model base
//                                      --max-length 128 --top-k 64 --hard-top-k 64 --gan-epochs 2 --budget-s 300 --out-dir runs/schedule --vocab FILE --seed N --threads N]
// Issue 21, item 4: the whole BioFEG schedule at MedMentions' size, from one measured run. Writes a
// synthetic dataset (src/data/synthetic.ts) at --scale, prepares it, runs the pipeline runner
// (the same as `biofeg pipeline`) once with the original's settings (its README's scripts: batch
// 64 in-batch, lr 1e-5; GAN batch 64, 5 critic steps, lr 5e-5; hard negatives 4 mentions x 64
// candidates; eval top-64, encode batch 64; finetune lr 1e-9) but ONE epoch per stage (the GAN two), then
// extrapolates every stage to scale 1 and the original's epochs (bench/schedule-extrapolate.ts),
// printing how. --budget-s aborts the run; unfinished stages are reported as not measured.
// Writes bench/results/schedule-<device>-<precision>.json (or $BIOFEG_BENCH_RESULTS/...).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { prepare, runPipeline } from '../src/api/calls.js';
import { generateSynthetic, syntheticCounts, type SyntheticManifest } from '../src/data/synthetic.js';
import type { PipelineConfig } from '../src/pipeline/config.js';
import { builtinData } from '../src/paths.js';
import { extrapolate, ORIGINAL_EPOCHS } from './schedule-extrapolate.js';
import { flagValue, machine, table, writeResult } from './common.js';

const device = flagValue('device', 'cpu');
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${device}`);
const precision = flagValue('precision', device === 'cuda' ? 'bf16' : 'f32');
if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision must be f32 or bf16, got ${precision}`);
const scale = Number(flagValue('scale', device === 'cuda' ? '0.005' : '0.002'));
// Not the full pool on the GPU by default: finetune-hard trains on every unseen entity's feature x 64 candidates.
const entityScale = Number(flagValue('entity-scale', device === 'cuda' ? '0.02' : String(scale)));
const bertModel = flagValue('bert-model', device === 'cuda' ? 'base' : 'tiny');
const maxLength = Number(flagValue('max-length', '128'));
// The original's top-64; smaller only to rehearse (cuemu), as the hard round's cost grows with it.
const topK = Number(flagValue('top-k', '64'));
const hardTopK = Number(flagValue('hard-top-k', '64'));
// The GAN dominates the schedule (80 epochs): two measured epochs, the second (warm) one scaled.
const ganEpochs = Number(flagValue('gan-epochs', '2'));
const budgetS = Number(flagValue('budget-s', '0'));
const seed = Number(flagValue('seed', '52313'));
const threads = Number(flagValue('threads', '0'));
const outDir = resolve(flagValue('out-dir', join('runs', `schedule-${device}`)));
// bert-base-uncased's vocabulary: from ../shared here, from the GPU kit on a device machine (gpu-kit.sh copies it).
const bertVocab = [resolve('..', 'shared', 'data', 'vocab', 'bert-base-uncased-vocab.txt'), resolve('.gpu-kit', 'vocab.txt')].find((f) =>
  existsSync(f),
);
const vocab = resolve(flagValue('vocab', bertVocab ?? builtinData.vocabPath));

const say = (s: string) => process.stdout.write(`${s}\n`);
const t0 = performance.now();
const rawDir = join(outDir, 'arboel');
const want = { scale, entityScale, seed, vocab };
const old = existsSync(join(rawDir, 'synthetic.json'))
  ? (JSON.parse(readFileSync(join(rawDir, 'synthetic.json'), 'utf8')) as SyntheticManifest)
  : undefined;
const same = old !== undefined && Object.entries(want).every(([k, v]) => old.settings[k as keyof typeof want] === v);
const manifest = same ? old : generateSynthetic({ outDir: rawDir, scale, entityScale, seed, vocabPath: vocab });
const c = manifest.counts;
say(
  `dataset ${rawDir}${same ? ' (kept)' : ''}: scale ${scale}, entity scale ${entityScale}: ${c.entities} entities (${c.unseenEntities} unseen in train), ` +
    `mentions ${c.mentions.train} / ${c.mentions.val} / ${c.mentions.test}; vocab ${vocab}`,
);
const processed = join(outDir, 'processed');
if (!same || !existsSync(join(processed, 'train.jsonl'))) await prepare({ dataDir: rawDir, outDir: processed });

const original = { typeOptimization: 'all_encoder_layers' as const };
const config: PipelineConfig = {
  dataPath: processed,
  outputPath: join(outDir, 'run'),
  entityDictPath: join(rawDir, 'documents', 'all_documents.json'),
  bertModel,
  vocab,
  device,
  precision,
  seed,
  ...(threads > 0 ? { threads } : {}),
  maxContextLength: maxLength,
  maxCandLength: maxLength,
  topK,
  hardTopK,
  biencoder: { ...original, learningRate: 1e-5, numTrainEpochs: 1, trainBatchSize: 64, evalBatchSize: 32 },
  eval: { encodeBatchSize: 64, evalBatchSize: 8 },
  gan: {
    ...original,
    learningRate: 5e-5,
    numTrainEpochs: ganEpochs,
    trainBatchSize: 64,
    evalBatchSize: 128,
    criticIters: 5,
    saveEvery: ganEpochs,
    startSaving: ganEpochs,
  },
  generate: { encodeBatchSize: 64 },
  finetune: { ...original, learningRate: 1e-9, numTrainEpochs: 1, trainBatchSize: 64, evalBatchSize: 32 },
  biencoderHard: { ...original, learningRate: 1e-5, numTrainEpochs: 1, trainBatchSize: 4, evalBatchSize: 4 },
  finetuneHard: { ...original, learningRate: 1e-9, numTrainEpochs: 1, trainBatchSize: 64, evalBatchSize: 32 },
};
const signal = budgetS > 0 ? AbortSignal.timeout(budgetS * 1000) : undefined;
let stopped: string | undefined;
try {
  await runPipeline(config, { ...(signal ? { signal } : {}) });
} catch (e) {
  // Out of budget (or a failing stage): what finished is still measured.
  stopped = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
  say(`pipeline stopped: ${stopped}`);
  // The budget running out is expected (what ran is still extrapolated); a failing stage is not.
  if (!signal?.aborted) process.exitCode = 1;
}

const full = syntheticCounts(1, 1, seed);
const est = extrapolate(config.outputPath, full);
const hours = (s: number | undefined) => (s === undefined ? '-' : (s / 3600).toFixed(s < 360 ? 3 : 2));
const secs = (s: number | undefined) => (s === undefined ? '-' : s.toFixed(1));
say(
  `\nextrapolated to MedMentions' size (${full.mentions.train} / ${full.mentions.val} / ${full.mentions.test} mentions, ${full.entities} entities, ` +
    `${full.unseenEntities} unseen in train) and the original's epochs (${Object.entries(ORIGINAL_EPOCHS)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}); one hard round:`,
);
say(
  table(
    est.map((e) => ({
      stage: e.stage,
      'measured s': secs(e.measuredSeconds),
      'fixed s': secs(e.fixedSeconds),
      'scaled part s': secs(e.scaledSeconds),
      factor: e.factor === undefined ? '-' : e.factor.toFixed(1),
      'full h': e.missing ? 'not measured' : hours(e.fullSeconds),
    })),
  ),
);
for (const e of est) say(`  ${e.stage}: ${e.how}`);
const known = est.filter((e) => e.fullSeconds !== undefined);
const total = known.reduce((a, e) => a + e.fullSeconds!, 0);
const hardRound = est.filter((e) => e.stage.endsWith('-hard') || e.stage === 'eval-final');
const missing = est.filter((e) => e.missing).map((e) => e.stage);
say(
  `schedule total: ${hours(total)} h${missing.length ? ` WITHOUT ${missing.join(', ')} (not measured: budget or failure)` : ''}; ` +
    `each further hard round (the original iterates): ${hours(hardRound.reduce((a, e) => a + (e.fullSeconds ?? 0), 0))} h`,
);
say(
  'how: a training stage = fixed part (its DONE.json seconds minus its epochs) + one epoch (log.jsonl: with two epochs or more the last one; else the steady seconds per update from its step lines x updates + the val check; else the plan or pre-training eval line to the epoch line) x full examples / measured examples x epochs; ' +
    'an eval stage = fixed + entity-pool encode x entities ratio + each mode x its mentions ratio (the mentions x entities scoring of retrieval is scaled by mentions only, small beside encoding); ' +
    'generate = its seconds x features ratio. Where a stage has no step lines (GAN, small finetunes) its warm-up is scaled too: an over-estimate at small scales.',
);
const file = writeResult(`schedule-${device}-${precision}.json`, {
  machine: machine(),
  settings: { device, precision, scale, entityScale, bertModel, maxLength, topK, hardTopK, ganEpochs, seed, budgetS, vocab, config },
  dataset: manifest.counts,
  full,
  originalEpochs: ORIGINAL_EPOCHS,
  stages: est,
  totalHours: total / 3600,
  missing,
  stopped: stopped ?? null,
  wallSeconds: (performance.now() - t0) / 1000,
  // TODO(issue 21): the same extrapolation for the PyTorch original (needs its scripts on the GPU machine).
  peer: null,
});
say(`wrote ${file}`);
