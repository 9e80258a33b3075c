// Stopping a run between steps. The loop polls a StopSource after each step; when a stop was
// requested it writes a checkpoint and throws an AbortError carrying the resume hint. Sources:
// an AbortSignal seen through shared memory from another thread (SharedStopFlag: the library's
// runs in worker threads), or SIGINT/SIGTERM in this process (InterruptFlag; a second signal
// exits at once).
import { AbortError } from '../errors.js';

/** What a training loop polls after each step. */
export interface StopSource {
  readonly requested: boolean;
  /** When a stop was requested: run `saveCheckpoint`, then throw an {@link AbortError}. */
  checkpointIfRequested(saveCheckpoint: () => Promise<void> | void, resumeHint: string): Promise<void>;
}

/**
 * The worker side of an AbortSignal: one Int32 in a SharedArrayBuffer that the caller's thread
 * sets (Atomics) when its signal aborts, so the loop sees it without a message round trip.
 */
export class SharedStopFlag implements StopSource {
  private readonly cell: Int32Array;
  constructor(buffer: SharedArrayBuffer) {
    this.cell = new Int32Array(buffer, 0, 1);
  }

  /** The caller's side: raise the flag in `buffer`. */
  static raise(buffer: SharedArrayBuffer): void {
    Atomics.store(new Int32Array(buffer, 0, 1), 0, 1);
  }

  get requested(): boolean {
    return Atomics.load(this.cell, 0) !== 0;
  }

  async checkpointIfRequested(saveCheckpoint: () => Promise<void> | void, resumeHint: string): Promise<void> {
    if (!this.requested) return;
    await saveCheckpoint();
    throw new AbortError(`aborted; a checkpoint was written. ${resumeHint}`, resumeHint);
  }
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Conventional shell exit codes: 128 + signal number. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export class InterruptedError extends AbortError {
  readonly signal: StopSignal;
  readonly exitCode: number;
  constructor(signal: StopSignal, resumeHint: string) {
    super(`interrupted by ${signal}; a checkpoint was written. ${resumeHint}`, resumeHint);
    this.name = 'InterruptedError';
    this.signal = signal;
    this.exitCode = SIGNAL_EXIT_CODES[signal];
  }
}

export interface InterruptOptions {
  /** Called on the second signal (default: process.exit with the signal's code). */
  onForce?: (signal: StopSignal) => void;
  /** Where the "finishing the step" notice goes (default stderr). */
  notify?: (message: string) => void;
}

export class InterruptFlag implements StopSource {
  private sig: StopSignal | null = null;
  private readonly handlers = new Map<StopSignal, () => void>();

  constructor(private readonly opts: InterruptOptions = {}) {}

  /** Listen for SIGINT and SIGTERM until {@link uninstall}. */
  install(): this {
    for (const s of ['SIGINT', 'SIGTERM'] as const) {
      const h = (): void => this.raise(s);
      this.handlers.set(s, h);
      process.on(s, h);
    }
    return this;
  }

  uninstall(): void {
    for (const [s, h] of this.handlers) process.off(s, h);
    this.handlers.clear();
  }

  /** What a signal does; public so tests and non-signal stops (e.g. a time budget) can use it. */
  raise(signal: StopSignal): void {
    if (this.sig !== null) {
      (this.opts.onForce ?? ((s: StopSignal) => process.exit(SIGNAL_EXIT_CODES[s])))(signal);
      return;
    }
    this.sig = signal;
    (this.opts.notify ?? ((m: string) => process.stderr.write(m + '\n')))(
      `${signal} received: finishing the current step, then writing a checkpoint (send it again to quit at once)`,
    );
  }

  get requested(): boolean {
    return this.sig !== null;
  }

  get signal(): StopSignal | null {
    return this.sig;
  }

  /**
   * Poll point at the end of a step: when a stop was requested, run `saveCheckpoint` and throw
   * {@link InterruptedError} carrying `resumeHint` (e.g. the command line with `--resume DIR`).
   */
  async checkpointIfRequested(saveCheckpoint: () => Promise<void> | void, resumeHint: string): Promise<void> {
    if (this.sig === null) return;
    await saveCheckpoint();
    throw new InterruptedError(this.sig, resumeHint);
  }
}
