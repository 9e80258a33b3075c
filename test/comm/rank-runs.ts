// The data-parallel tests' harness: a scenario script run on 1 process (plain node) or N ranks
// (mpirun), what each rank wrote (its flat parameters, its result JSON), the logged step losses.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

import { ROOT } from '../eval/retrieve-helpers.js';

const probe = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
export const haveMpirun = probe.status === 0;
/** Why the mpirun tests skip (printed once by each file that skips). */
export const noMpirunReason = `mpirun not found (${probe.error?.message ?? probe.stderr}); install openmpi-bin`;

/** Runs test/comm/<script> with its JSON argument on `ranks` processes, one engine thread each. */
export function launchScenario(script: string, ranks: number, arg: unknown): void {
  const node = [process.execPath, '--import', 'tsx', join(ROOT, 'test', 'comm', script), JSON.stringify(arg)];
  const env = { ...process.env, BIOFEG_THREADS: '1' };
  const r =
    ranks === 1
      ? spawnSync(node[0]!, node.slice(1), { cwd: ROOT, encoding: 'utf8', env })
      : spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', String(ranks), ...node], {
          cwd: ROOT,
          encoding: 'utf8',
          env,
        });
  expect(r.status, `${ranks} rank(s) ended with ${r.status}:\n${(r.stdout + r.stderr).slice(-4000)}`).toBe(0);
}

/** Each rank's flat parameters (params.rank<k>.f32) and result (result.rank<k>.json) in `out`. */
export function rankOutputs<R>(out: string, ranks: number): { params: Float32Array[]; results: R[] } {
  const params: Float32Array[] = [],
    results: R[] = [];
  for (let k = 0; k < ranks; k++) {
    const b = readFileSync(join(out, `params.rank${k}.f32`));
    params.push(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
    results.push(JSON.parse(readFileSync(join(out, `result.rank${k}.json`), 'utf8')) as R);
  }
  return { params, results };
}

/** The events named `event` of a run folder's log.jsonl (rank 0's). */
export function logEvents<T>(out: string, event: string): T[] {
  return readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: string } & T)
    .filter((e) => e.event === event);
}

/** The `step` events' losses of a run folder's log.jsonl. */
export function stepLosses(out: string): number[] {
  return logEvents<{ loss: number }>(out, 'step').map((e) => e.loss);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
