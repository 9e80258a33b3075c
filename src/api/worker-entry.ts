// The worker side: runs one task (workerData.kind 'task') and exits, or holds one BERT and answers
// encode requests until told to close (workerData.kind 'bert').
import { parentPort, workerData } from 'node:worker_threads';

import { toWire } from '../errors.js';
import { BertSession, type EncodeOptions, type LoadBertOptions } from '../stages/encode.js';
import { SharedStopFlag } from '../train/interrupt.js';
import type { ProgressEvent, TaskContext } from './events.js';
import { TASKS, type TaskName } from './tasks.js';
import type { WorkerMessage } from './worker-host.js';

type Data =
  | { kind: 'task'; name: TaskName; settings: unknown; stop: SharedArrayBuffer }
  | { kind: 'bert'; model: string; options: LoadBertOptions };

/** An encode request to a BERT worker; `stop` is that call's own flag. */
export type BertRequest =
  | { op: 'encode'; id: number; texts: string[]; options: EncodeOptions; stop: SharedArrayBuffer }
  | { op: 'close'; id: number };

const port = parentPort!;
const post = (m: WorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
const contextFor = (id: number, stop: SharedArrayBuffer): TaskContext => ({
  emit: (event: ProgressEvent) => post({ type: 'event', id, event }),
  stop: new SharedStopFlag(stop),
});

async function runOne(d: Extract<Data, { kind: 'task' }>): Promise<void> {
  try {
    const task = TASKS[d.name] as (s: unknown, ctx: TaskContext) => Promise<unknown>;
    post({ type: 'done', id: 0, value: await task(d.settings, contextFor(0, d.stop)) });
  } catch (e) {
    post({ type: 'error', id: 0, error: toWire(e) });
  }
}

function serveBert(d: Extract<Data, { kind: 'bert' }>): void {
  let session: BertSession;
  try {
    session = BertSession.open(d.model, d.options);
  } catch (e) {
    post({ type: 'error', id: 0, error: toWire(e) });
    return;
  }
  post({ type: 'done', id: 0, value: session.facts });
  // One request at a time, in order: the model's activations are planned for one batch.
  let queue = Promise.resolve();
  port.on('message', (r: BertRequest) => {
    queue = queue.then(async () => {
      if (r.op === 'close') {
        session.dispose();
        post({ type: 'done', id: r.id, value: null });
        port.close();
        return;
      }
      try {
        const v = await session.encodeTexts(r.texts, r.options, contextFor(r.id, r.stop));
        post({ type: 'done', id: r.id, value: v }, [v.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: 'error', id: r.id, error: toWire(e) });
      }
    });
  });
}

const data = workerData as Data;
if (data.kind === 'task') await runOne(data);
else serveBert(data);
