// What every training command sets up around its loop: the JSON-lines log in the output folder,
// the SIGINT/SIGTERM flag, and an epoch progress bar on stderr.
import { InterruptFlag } from '../train/interrupt.js';
import { JsonlLogger } from '../train/jsonl-log.js';
import { createProgress, type Progress } from './progress.js';

export interface SessionHooks {
  log: JsonlLogger;
  interrupt: InterruptFlag;
  progress: (epoch: number, done: number, total: number) => void;
  resumeHint: string;
}

export async function trainingSession<T>(
  out: string,
  o: { label?: string; silent: boolean; resumeHint?: string; start?: Record<string, unknown> },
  run: (hooks: SessionHooks) => Promise<T>,
): Promise<T> {
  const log = new JsonlLogger(out);
  if (o.start) log.log('start', JSON.parse(JSON.stringify(o.start)) as Record<string, string>);
  const interrupt = new InterruptFlag().install();
  let bar: Progress | undefined;
  const progress = (epoch: number, done: number, total: number): void => {
    if (done === 1 || !bar) bar = createProgress({ label: `${o.label ? `${o.label} ` : ''}epoch ${epoch}`, total, silent: o.silent, unit: 'batch' });
    bar.update(done);
    if (done === total) bar.stop();
  };
  try {
    return await run({ log, interrupt, progress, resumeHint: o.resumeHint ?? 'Run the same command with --resume to continue.' });
  } finally {
    interrupt.uninstall();
    log.close();
  }
}
