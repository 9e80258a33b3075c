// Issue 16's run-level defects: one writer per output folder (a second run fails at once naming
// the holder; a dead holder's lock is taken over), and resume state checked against the run
// (damaged, negative or out-of-range positions are errors naming the file).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  encodeFile,
  importPubtator,
  InputError,
  OutputBusyError,
  trainBiencoder,
  type ProgressEvent,
  type TrainBiencoderSettings,
} from '../src/index.js';
import { LOCK_FILE, lockOutput } from '../src/stages/output-lock.js';
import { cleanup, smallDataset, tmp } from './eval/retrieve-helpers.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
beforeAll(async () => {
  data = await smallDataset({ train: 64, val: 8, test: 8 });
}, 60_000);
afterAll(cleanup);

const settings = (out: string, over: Partial<TrainBiencoderSettings> = {}): TrainBiencoderSettings => ({
  dataPath: data.processed,
  outputPath: out,
  entityDictPath: data.entities,
  bertModel: 'tiny',
  maxContextLength: 32,
  maxCandLength: 32,
  trainBatchSize: 16,
  evalBatchSize: 8,
  numTrainEpochs: 2,
  typeOptimization: 'all',
  dropout: 0,
  device: 'cpu',
  ...over,
});

describe('one run per output folder', () => {
  it('two runs on one folder: the second fails at once with the holder named; the first finishes', async () => {
    const out = tmp('biofeg-lock-');
    const [a, b] = await Promise.allSettled([trainBiencoder(settings(out)), trainBiencoder(settings(out))]);
    const ok = [a, b].filter((r) => r.status === 'fulfilled');
    const failed = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(OutputBusyError);
    expect((failed[0]!.reason as OutputBusyError).code).toBe('ERR_BIOFEG_BUSY');
    expect(String(failed[0]!.reason.message)).toMatch(/is in use by train-biencoder \(process \d+ on .*\); one run per output folder/);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    // The log holds one run only.
    const starts = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"event":"start"'));
    expect(starts).toHaveLength(1);
  }, 120_000);

  it('a lock left by a process that is gone is taken over; a live one is not', () => {
    const out = tmp('biofeg-lock-stale-');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), stage: 'old', since: 'then' }));
    const release = lockOutput(out, 'test');
    expect(() => lockOutput(out, 'second')).toThrow(/in use by test \(process/);
    release();
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });
});

describe('resume state is checked against the run', () => {
  let out: string, orig: string;
  beforeAll(async () => {
    out = tmp('biofeg-resume-');
    await trainBiencoder(settings(out, { numTrainEpochs: 1 }));
    orig = readFileSync(join(out, 'epoch_0', 'trainer_state.json'), 'utf8');
  }, 120_000);

  const withState = (edit: (s: Record<string, unknown>) => Record<string, unknown> | string): void => {
    const p = join(out, 'epoch_0', 'trainer_state.json');
    const next = edit(JSON.parse(orig) as Record<string, unknown>);
    writeFileSync(p, typeof next === 'string' ? next : JSON.stringify(next));
  };

  it.each([
    ['truncated', () => '{"epoch": 1, "microS', /trainer_state\.json: expected the trainer state as JSON/],
    [
      'negative step',
      (s: Record<string, unknown>) => ({ ...s, microStep: -5 }),
      /cannot resume: "microStep" must be an integer >= 0, got -5/,
    ],
    [
      'far epoch',
      (s: Record<string, unknown>) => ({ ...s, epoch: 1000 }),
      /cannot resume: it is at epoch 1000, past the 2 epochs of this run/,
    ],
    [
      'step past the epoch',
      (s: Record<string, unknown>) => ({ ...s, epoch: 0, microStep: 99 }),
      /cannot resume: it is at microStep 99 of an epoch of 4/,
    ],
  ])(
    '%s',
    async (_name, edit, message) => {
      withState(edit);
      const e = await trainBiencoder(settings(out, { resume: true })).then(
        () => null,
        (x: unknown) => x,
      );
      expect(String((e as Error | null)?.message)).toMatch(message);
      expect((e as { code?: string }).code).toBe('ERR_BIOFEG_CHECKPOINT');
    },
    60_000,
  );
});

describe('import-pubtator says what it dropped and fails above maxDropped', () => {
  const P = join(import.meta.dirname, 'fixtures', 'data', 'pubtator');
  const corpora = { train: join(P, 'train.txt'), val: join(P, 'val.txt'), test: join(P, 'test.txt'), dictionary: join(P, 'medic.txt') };
  it("prints each split's counts; a split losing more than the share is an error naming the file", async () => {
    const lines: string[] = [];
    const onProgress = (e: ProgressEvent): void => {
      if (e.type === 'message') lines.push(e.text);
    };
    // The hand-made snippets drop on purpose (ids missing, bad offsets): 7 of 9 train mentions are kept.
    await importPubtator({ ...corpora, outDir: tmp('biofeg-imp-'), maxDropped: 0.9 }, { onProgress });
    expect(lines).toContain('import-pubtator train: 7 of 9 mentions written (2 dropped; 0 of other types)');
    const e = await importPubtator({ ...corpora, outDir: tmp('biofeg-imp-') }, { onProgress }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(InputError);
    expect(String((e as Error).message)).toMatch(
      /train\.txt: 2 of 9 mentions were dropped \(22%, more than maxDropped \(--max_dropped\) 0\.2\)/,
    );
  }, 60_000);
});

describe('encode into a folder that does not exist', () => {
  it('is refused before any work, and creates nothing', async () => {
    const input = join(tmp('biofeg-enc-'), 'in.jsonl');
    writeFileSync(input, '{"text": "breast cancer"}\n');
    const e = await encodeFile({ model: 'tiny', input, output: '/nonexistent-biofeg/dir/x.npy', device: 'cpu' }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ code: 'ERR_BIOFEG_SETTINGS', field: 'output' });
    expect(existsSync('/nonexistent-biofeg')).toBe(false);
  }, 60_000);
});
