// What every training stage sets up around its loop: the JSON-lines log in the output folder,
// the stop source of the call, and per-epoch progress events.
import { count, say, type TaskContext } from '../api/events.js';
import { nameWriteFailure } from '../data/atomic.js';
import type { TrainHooks } from '../train/hooks.js';
import { JsonlLogger } from '../train/jsonl-log.js';

type SessionHooks = Required<TrainHooks>;

export async function trainingSession<T>(
  out: string,
  ctx: TaskContext,
  o: { label?: string; resumeHint: string; start: Record<string, unknown> },
  run: (hooks: SessionHooks) => Promise<T>,
): Promise<T> {
  const log = new JsonlLogger(out);
  log.log('start', JSON.parse(JSON.stringify(o.start)) as Record<string, string>);
  const progress = (epoch: number, done: number, total: number): void =>
    count(ctx, `${o.label ? `${o.label} ` : ''}epoch ${epoch}`, done, total, 'batch');
  try {
    return await run({ log, interrupt: ctx.stop, progress, say: (line) => say(ctx, line), resumeHint: o.resumeHint });
  } catch (e) {
    // A full disk fails in a write that names no file: name the output folder.
    nameWriteFailure(e, out);
    // Every failure leaves its line in the run's log (a full disk included), as far as it can be written.
    try {
      log.log('failed', { message: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code ?? null });
    } catch {
      // the log itself cannot be written
    }
    throw e;
  } finally {
    log.close();
  }
}

/** How to continue an aborted stage: the same settings with `resume: true` (CLI: --resume). */
export const RESUME_HINT = 'Call it again with the same settings and resume: true (CLI: the same command with --resume) to continue.';
