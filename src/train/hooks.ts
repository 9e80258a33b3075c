// What every training loop (bi-encoder, fine-tuning, GAN) is given by its caller: the log, the stop
// source, lines and progress for the user, and how to resume.
import type { StopSource } from './interrupt.js';
import type { JsonlLogger } from './jsonl-log.js';

export interface TrainHooks {
  log: JsonlLogger;
  /** Polled after each step: a stop writes `<output>/last` and throws an AbortError. */
  interrupt?: StopSource;
  /** A line for the user. */
  say?: (line: string) => void;
  /** Progress of micro-batches in the current epoch. */
  progress?: (epoch: number, done: number, total: number) => void;
  /** How to resume this run (for the abort message). */
  resumeHint?: string;
}
