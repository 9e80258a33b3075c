// How a command runs a library call: progress events drawn as bars and lines, Ctrl-C (SIGINT)
// or SIGTERM turned into an AbortSignal (a second one quits at once), and an aborted call
// turned into the conventional exit code with the library's resume hint.
import type { CallOptions, ProgressEvent } from '../api/events.js';
import { AbortError } from '../errors.js';
import { createProgress, type Progress, type ProgressStream } from './progress.js';

export interface DrawOptions {
  /** No bars (lines are still printed). */
  silent?: boolean;
  /** Where `info` lines go (default stdout). */
  say?: (line: string) => void;
  /** Where `detail` lines go (default stderr). */
  detail?: (line: string) => void;
  /** Where bars go (default stderr). */
  stream?: ProgressStream;
}

/** An onProgress that prints messages and draws one bar per progress label. */
export function drawProgress(o: DrawOptions = {}): (e: ProgressEvent) => void {
  const say = o.say ?? ((s: string) => void process.stdout.write(`${s}\n`));
  const detail = o.detail ?? ((s: string) => void process.stderr.write(`${s}\n`));
  const bars = new Map<string, { bar: Progress; total: number }>();
  return (e) => {
    if (e.type === 'message') (e.level === 'info' ? say : detail)(e.text);
    else if (e.type === 'progress') {
      if (e.total <= 0) return; // a count without a known total: nothing to draw
      let b = bars.get(e.label);
      if (!b || b.total !== e.total || e.done <= 1) {
        b?.bar.stop();
        b = {
          bar: createProgress({
            label: e.label,
            total: e.total,
            silent: o.silent ?? false,
            unit: e.unit,
            ...(o.stream ? { stream: o.stream } : {}),
          }),
          total: e.total,
        };
        bars.set(e.label, b);
      }
      b.bar.update(e.done);
      if (e.done >= e.total) {
        b.bar.stop();
        bars.delete(e.label);
      }
    }
  };
}

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type Sig = keyof typeof EXIT_CODES;

/**
 * Runs `call` with an AbortSignal raised by the first SIGINT/SIGTERM; a second signal exits at
 * once. When the call was aborted by a signal, prints the message and exits 130 / 143.
 */
export async function withSignals<T>(
  call: (o: Pick<CallOptions, 'signal'>) => Promise<T>,
  notify: (s: string) => void = (s) => void process.stderr.write(`${s}\n`),
): Promise<T> {
  const controller = new AbortController();
  let got: Sig | undefined;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
    const h = (): void => {
      if (got !== undefined) process.exit(EXIT_CODES[sig]);
      got = sig;
      notify(`${sig} received: finishing the current step, then writing a checkpoint (send it again to quit at once)`);
      controller.abort();
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return await call({ signal: controller.signal });
  } catch (e) {
    if (e instanceof AbortError && got !== undefined) {
      process.stderr.write(`biofeg: interrupted by ${got}; ${e.message.replace(/^aborted; /, '')}\n`);
      process.exit(EXIT_CODES[got]);
    }
    throw e;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
