// The long calls a worker thread can run, by name. Each takes its settings and a TaskContext
// (progress events out, the stop flag in) and resolves to plain data (structured-clone safe).
import { runBuildIndex, runUpdateIndex } from '../link/index-build.js';
import { runPipelineHere } from '../pipeline/run.js';
import { runEncodeFile } from '../stages/encode.js';
import { runEvaluateCrossencoder } from '../stages/evaluate-cross.js';
import { runEvaluateBiencoder } from '../stages/evaluate.js';
import { runFinetune } from '../stages/finetune.js';
import { runGenerateFeatures } from '../stages/generate-features.js';
import { runImportPubtator, runPrepare } from '../stages/prepare.js';
import { runPretrainSynonyms } from '../stages/pretrain-synonyms.js';
import { runTrainBiencoder } from '../stages/train-biencoder.js';
import { runTrainCrossencoder } from '../stages/train-cross.js';
import { runTrainGan } from '../stages/train-gan.js';

export const TASKS = {
  trainBiencoder: runTrainBiencoder,
  finetune: runFinetune,
  trainGan: runTrainGan,
  generateFeatures: runGenerateFeatures,
  evaluateBiencoder: runEvaluateBiencoder,
  trainCrossencoder: runTrainCrossencoder,
  evaluateCrossencoder: runEvaluateCrossencoder,
  pretrainSynonyms: runPretrainSynonyms,
  prepare: runPrepare,
  importPubtator: runImportPubtator,
  encodeFile: runEncodeFile,
  runPipeline: runPipelineHere,
  buildIndex: runBuildIndex,
  updateIndex: runUpdateIndex,
} as const;

export type TaskName = keyof typeof TASKS;
export type TaskSettings<K extends TaskName> = Parameters<(typeof TASKS)[K]>[0];
export type TaskResult<K extends TaskName> = Awaited<ReturnType<(typeof TASKS)[K]>>;
