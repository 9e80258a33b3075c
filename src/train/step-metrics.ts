// The loss bookkeeping the training loops share: the 'step' records of the JSON-lines log (the
// report reads them; about 100 an epoch whatever printInterval says, each the mean loss and the
// throughput of a window of updates) and, for the accumulating trainers, the loss line and
// 'train' record at printInterval.
import type { TrainHooks } from './hooks.js';
import type { JsonlLogger } from './jsonl-log.js';

/** Where an update stands, as the 'step' and 'train' records name it. */
export interface UpdateAt {
  epoch: number;
  /** The micro-batch (or batch) index within the epoch. */
  step: number;
  /** Optimiser updates made so far. */
  updates: number;
  lr: number;
  gradNorm: number;
}

/** A window of updates that ends in one 'step' record. */
export class StepWindow {
  /** Updates per record. */
  readonly every: number;
  private loss = 0;
  private count = 0;
  private updates = 0;
  private rows = 0;
  private since = performance.now();

  constructor(updatesPerEpoch: number) {
    this.every = Math.max(1, Math.floor(updatesPerEpoch / 100));
  }

  /** Starts an empty window (at each epoch's start: a window never spans the end, whose validation and checkpoint time are no training). */
  reset(): void {
    this.loss = 0;
    this.count = 0;
    this.updates = 0;
    this.rows = 0;
    this.since = performance.now();
  }

  /** A (micro-)batch's loss and the BERT sequences it ran. */
  add(loss: number, sequences: number): void {
    this.loss += loss;
    this.count++;
    this.rows += sequences;
  }

  /** Counts an optimiser update; true when the window is full. */
  update(): boolean {
    return ++this.updates >= this.every;
  }

  /** Writes the window's 'step' record and starts the next window; returns the record's mean loss. */
  flush(log: JsonlLogger, at: UpdateAt): number {
    const secs = (performance.now() - this.since) / 1000;
    const loss = this.loss / this.count;
    log.log('step', {
      epoch: at.epoch,
      step: at.step,
      updates: at.updates,
      loss,
      lr: at.lr,
      gradNorm: at.gradNorm,
      stepsPerSecond: secs > 0 ? this.updates / secs : 0,
      sequencesPerSecond: secs > 0 ? this.rows / secs : 0,
    });
    this.reset();
    return loss;
  }
}

/** The bi-encoder's and the cross-encoder's loss bookkeeping: the 'step' window and the printInterval mean. */
export class TrainMetrics {
  readonly window: StepWindow;
  private sum = 0;
  private count = 0;

  constructor(optimizerStepsPerEpoch: number) {
    this.window = new StepWindow(optimizerStepsPerEpoch);
  }

  beginEpoch(): void {
    this.sum = 0;
    this.count = 0;
    this.window.reset();
  }

  /** A micro-batch's (unscaled) loss and the BERT sequences it ran. */
  add(loss: number, sequences: number): void {
    this.sum += loss;
    this.count++;
    this.window.add(loss, sequences);
  }

  /** After an optimiser update: the 'step' record when its window is full, then, when `print`, the mean loss since the last print (a line and a 'train' record). */
  updated(hooks: TrainHooks, at: UpdateAt, print: boolean): void {
    if (this.window.update()) this.window.flush(hooks.log, at);
    if (!print) return;
    const loss = this.sum / this.count;
    hooks.say?.(`Step ${at.step} - epoch ${at.epoch} average loss: ${loss.toFixed(4)}`);
    hooks.log.log('train', { epoch: at.epoch, step: at.step, updates: at.updates, loss, lr: at.lr, gradNorm: at.gradNorm });
    this.sum = 0;
    this.count = 0;
  }
}
