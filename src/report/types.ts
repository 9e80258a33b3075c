// What a report knows about a run folder, read from its files (src/report/read.ts) before any
// chart is built; every field a stage's files may lack is optional, and `missing` says why.

/** One logged point of the bi-encoder's training (log.jsonl `step`, or the print-interval `train` lines). */
export interface StepPoint {
  updates: number;
  epoch: number;
  loss: number | null;
  lr: number | null;
  gradNorm: number | null;
  stepsPerSecond: number | null;
  sequencesPerSecond: number | null;
}

/** The in-batch validation accuracy after an epoch (-1: before training). */
export interface EpochPoint {
  epoch: number;
  accuracy: number | null;
}

/** One GAN epoch (log.jsonl `epoch` lines of train-gan); penalty and wasserstein are absent in older logs. */
export interface GanEpoch {
  epoch: number;
  disc: number | null;
  gen: number | null;
  mse: number | null;
  penalty: number | null;
  wasserstein: number | null;
  accuracy: number | null;
  batchesPerSecond: number | null;
}

/** Recall of one mode of an eval stage: at every k = 1..topK when the report holds the curve, else at the listed ranks. */
export interface ModeCurve {
  mode: string;
  total: number;
  points: Array<{ k: number; recall: number | null }>;
  /** Recall at the original's ranks (1, 4, 8, 16, 32, 64...), for the table. */
  ranks: Record<string, number | null>;
}

/** One mode of a cross-encoder evaluation: its accuracy beside the bi-encoder's first candidate on the same mentions. */
export interface RerankMode {
  mode: string;
  mentions: number | null;
  /** Unnormalized accuracy (hits / all mentions), and the bi-encoder's; recall@k is the cross-encoder's ceiling. */
  cross: number | null;
  biencoder: number | null;
  recallAtK: number | null;
  /** Normalized: over the mentions whose gold is among the candidates. */
  crossNormalized: number | null;
}

export type StageKind = 'train' | 'gan' | 'eval' | 'generate' | 'prepare' | 'other';
export type StageStatus = 'done' | 'unfinished' | 'failed' | 'not run';

export interface StageData {
  name: string;
  dir: string;
  kind: StageKind;
  status: StageStatus;
  /** Wall time: DONE.json's, else first to last log line. */
  seconds: number | null;
  finishedAt: string | null;
  device: string | null;
  /** The stage's settings (its log's start line, else DONE.json's fingerprint). */
  settings: Record<string, unknown> | null;
  /** What the stage returned (DONE.json), shown as it is. */
  result: unknown;
  steps: StepPoint[];
  epochs: EpochPoint[];
  /** Epochs the settings asked for (numTrainEpochs), when known. */
  plannedEpochs: number | null;
  gan: GanEpoch[];
  recall: ModeCurve[];
  /** A cross-encoder evaluation's accuracy per mode (eval-crossencoder's eval_report.json). */
  rerank: RerankMode[];
  /** Why the run stopped, when its log says (a `failed` or `error` line). */
  failure: string | null;
  /** What this stage's files lack or hold damaged, in words. */
  missing: string[];
}

export interface RunData {
  root: string;
  /** A pipeline folder (stages in subfolders) or one stage's own folder. */
  layout: 'pipeline' | 'stage';
  stages: StageData[];
  /** Run-wide notes (stages the pipeline config expects but that have no folder...). */
  missing: string[];
}
