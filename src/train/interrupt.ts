// SIGINT/SIGTERM during training: the handler only raises a flag; the loop polls it after each
// step, writes a checkpoint and exits non-zero with a resume hint. A second signal exits at once.

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Conventional shell exit codes: 128 + signal number. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export class InterruptedError extends Error {
  readonly signal: StopSignal;
  readonly exitCode: number;
  constructor(signal: StopSignal, resumeHint: string) {
    super(`interrupted by ${signal}; a checkpoint was written. ${resumeHint}`);
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

export class InterruptFlag {
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

/** For a command's action: print the error and exit with its code when it is an interrupt; rethrow otherwise. */
export function exitOnInterrupt(e: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): never {
  if (e instanceof InterruptedError) {
    write(`biofeg: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  throw e;
}
