// What a long call reports while it runs, and what it is given: a progress event stream (the CLI
// draws bars and prints lines from it) and an AbortSignal.
import type { StopSource } from '../train/interrupt.js';

/** A line for the user: `info` is what the CLI prints on stdout, `detail` on stderr. */
export interface MessageEvent {
  type: 'message';
  level: 'info' | 'detail';
  text: string;
}

/** Work done of a named phase (`epoch 1`, `encode entities`, ...); `done === total` ends it. */
export interface CountEvent {
  type: 'progress';
  label: string;
  done: number;
  total: number;
  unit: string;
}

/** A pipeline stage starting, finishing or skipped (already done). */
export interface StageEvent {
  type: 'stage';
  stage: string;
  index: number;
  total: number;
  status: 'start' | 'done' | 'skipped';
  /** The stage's folder. */
  dir: string;
  /** Start: continuing a partial run. */
  resume: boolean;
  /** Done: its wall time. */
  seconds: number;
}

export type ProgressEvent = MessageEvent | CountEvent | StageEvent;

/** What every long call takes besides its settings. */
export interface CallOptions {
  /** Stops at the next step: a training run writes a checkpoint, then the call rejects with an AbortError. */
  signal?: AbortSignal;
  /** Receives the progress event stream (on the caller's thread). */
  onProgress?: (event: ProgressEvent) => void;
}

/** What a stage's code gets (in whatever thread it runs). */
export interface TaskContext {
  emit(event: ProgressEvent): void;
  stop: StopSource;
}

export const say = (ctx: TaskContext, text: string): void => ctx.emit({ type: 'message', level: 'info', text });
export const detail = (ctx: TaskContext, text: string): void => ctx.emit({ type: 'message', level: 'detail', text });
export const count = (ctx: TaskContext, label: string, done: number, total: number, unit = 'it'): void =>
  ctx.emit({ type: 'progress', label, done, total, unit });
