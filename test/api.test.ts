// The public API as a service uses it (src/index.ts): typed settings checked before any work,
// typed errors with stable codes, progress events, AbortSignal (a checkpoint, then AbortError,
// then resume), and the caller's event loop kept free while training and encoding run.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  AbortError,
  BiofegError,
  builtinData,
  DeviceUnavailableError,
  evaluateBiencoder,
  info,
  loadBert,
  prepare,
  SettingsError,
  trainBiencoder,
  type ProgressEvent,
  type TrainBiencoderSettings,
} from '../src/index.js';
import { cleanup, tmp } from './eval/retrieve-helpers.js';

let work: string, processed: string;
const tiny = (out: string, over: Partial<TrainBiencoderSettings> = {}): TrainBiencoderSettings => ({
  dataPath: processed,
  outputPath: out,
  entityDictPath: builtinData.entityDictPath,
  bertModel: 'tiny',
  maxContextLength: 32,
  maxCandLength: 32,
  numTrainEpochs: 1,
  trainBatchSize: 32,
  evalBatchSize: 64,
  learningRate: 5e-4,
  typeOptimization: 'all',
  dropout: 0,
  device: 'cpu',
  ...over,
});

beforeAll(async () => {
  work = tmp('biofeg-api-');
  processed = join(work, 'processed');
  const r = await prepare({ dataDir: builtinData.dir, outDir: processed });
  expect(r.splits.train.mentions).toBeGreaterThan(2000);
}, 120_000);
afterAll(cleanup);

describe('settings are checked before any work, with the field named', () => {
  it.each([
    [{ dataPath: 3 }, 'dataPath', /dataPath \(--data_path\) must be a non-empty string, got number 3/],
    [{ dataPath: 'd' }, 'outputPath', /outputPath \(--output_path\) is required/],
    [{ dataPath: 'd', outputPath: 'o', topK: 5 }, 'topK', /unknown setting "topK"/],
    [{ dataPath: 'd', outputPath: 'o', learningRate: 'fast' }, 'learningRate', /learningRate \(--learning_rate\) must be a finite number/],
    [{ dataPath: 'd', outputPath: 'o', typeOptimization: 'some' }, 'typeOptimization', /must be one of additional_layers/],
    [{ dataPath: 'd', outputPath: 'o', trainBatchSize: 0 }, 'trainBatchSize', /an integer >= 1/],
  ])('%j -> SettingsError on %s', async (settings, field, message) => {
    const e = await trainBiencoder(settings as unknown as TrainBiencoderSettings).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(SettingsError);
    expect(e).toBeInstanceOf(BiofegError);
    expect((e as SettingsError).code).toBe('ERR_BIOFEG_SETTINGS');
    expect((e as SettingsError).field).toBe(field);
    expect((e as Error).message).toMatch(message);
  });

  it('the common mistakes name the flag and what was expected', async () => {
    const out = join(work, 'never');
    const cases: Array<[Partial<TrainBiencoderSettings>, RegExp]> = [
      [{ pathToModel: '/nonexistent' }, /pathToModel \(--path_to_model\) \/nonexistent: no such checkpoint folder or file/],
      [
        { pathToModel: work },
        /pathToModel \(--path_to_model\) .*: expected a checkpoint folder with model\.safetensors or pytorch_model\.bin/,
      ],
      [
        { bertModel: 'bert-base-uncased' },
        /bertModel \(--bert_model\) "bert-base-uncased" is neither a built-in size .* nothing is downloaded/,
      ],
      [{ dataPath: join(work, 'nope') }, /dataPath \(--data_path\) .*nope: no such folder/],
      [{ dataPath: builtinData.dir }, /expected a prepared folder with train\.jsonl \(run prepare/],
    ];
    for (const [over, message] of cases) await expect(trainBiencoder(tiny(out, over))).rejects.toThrow(message);
    await expect(evaluateBiencoder({ dataPath: processed, outputPath: out, topK: 0 })).rejects.toMatchObject({
      code: 'ERR_BIOFEG_SETTINGS',
      field: 'topK',
    });
    expect(existsSync(out)).toBe(false);
  });

  it('a device this build lacks is a DeviceUnavailableError (or it runs, where a GPU exists)', async () => {
    if (info().cudaDevices > 0) return;
    await expect(trainBiencoder(tiny(join(work, 'cuda'), { device: 'cuda' }))).rejects.toBeInstanceOf(DeviceUnavailableError);
    await expect(trainBiencoder(tiny(join(work, 'bf16'), { precision: 'bf16' }))).rejects.toMatchObject({ code: 'ERR_BIOFEG_DEVICE' });
  });
});

describe('long calls run off the main thread', () => {
  it('an epoch of training and an encode of 10,000 texts keep the event loop delay p99 under 20 ms', async () => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    const events: ProgressEvent[] = [];
    h.enable();
    const r = await trainBiencoder(tiny(join(work, 'model')), { onProgress: (e) => events.push(e) });
    const bert = await loadBert(r.outputPath, { side: 'context', device: 'cpu' });
    const texts = Array.from({ length: 10_000 }, (_, i) => `patient ${i} with type ${i % 3} diabetes mellitus and chronic kidney disease`);
    const v = await bert.encode(texts, { batchSize: 128 });
    h.disable();
    await bert.dispose();
    expect(v.length).toBe(10_000 * bert.hiddenSize);
    expect(v.every(Number.isFinite)).toBe(true);
    expect(r.accuracies).toHaveLength(2);
    expect(events.some((e) => e.type === 'progress' && e.label === 'epoch 0' && e.done === e.total)).toBe(true);
    expect(events.some((e) => e.type === 'message' && /Eval: epoch 0 accuracy/.test(e.text))).toBe(true);
    const p99 = h.percentile(99) / 1e6;
    console.log(
      `event-loop delay while training + encoding 10,000 texts: p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms`,
    );
    expect(p99).toBeLessThan(20);
    // The same texts encoded again, in another batch (other padding), give the same vectors to rounding.
    const again = await loadBert(r.outputPath, { side: 'context', device: 'cpu' });
    const w = await again.encode(texts.slice(0, 3));
    await again.dispose();
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - v[i]!));
    expect(worst).toBeLessThan(1e-4);
  }, 300_000);

  it('aborting stops at the next step, writes a checkpoint, rejects with AbortError; resume continues', async () => {
    const out = join(work, 'abort');
    const ac = new AbortController();
    const p = trainBiencoder(tiny(out, { numTrainEpochs: 2 }), {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'progress' && e.done === 5) ac.abort();
      },
    });
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).code).toBe('ERR_BIOFEG_ABORTED');
    expect((e as AbortError).resumeHint).toMatch(/resume: true/);
    const state = JSON.parse(readFileSync(join(out, 'last', 'trainer_state.json'), 'utf8')) as { epoch: number; microStep: number };
    expect(state).toMatchObject({ epoch: 0 });
    expect(state.microStep).toBeGreaterThanOrEqual(5);
    const r = await trainBiencoder(tiny(out, { numTrainEpochs: 2, resume: true }));
    expect(r.accuracies).toHaveLength(3);
    // A signal aborted before the call: rejected at once, nothing started.
    await expect(trainBiencoder(tiny(join(work, 'never2')), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(existsSync(join(work, 'never2'))).toBe(false);
  }, 300_000);

  it('loadBert: bad inputs are typed errors', async () => {
    await expect(loadBert(join(work, 'nope'))).rejects.toMatchObject({ code: 'ERR_BIOFEG_SETTINGS' });
    await expect(loadBert(join(work, 'model'))).rejects.toThrow(/bi-encoder checkpoint; give --side context or --side candidate/);
    const b = await loadBert(join(work, 'model'), { side: 'candidate', device: 'cpu' });
    await expect(b.encode(['x'], { batchSize: 0 })).rejects.toMatchObject({ code: 'ERR_BIOFEG_SETTINGS', field: 'batchSize' });
    await expect(b.encode([3 as unknown as string])).rejects.toBeInstanceOf(SettingsError);
    expect((await b.encode(['ok'])).length).toBe(b.hiddenSize);
    await b.dispose();
    await expect(b.encode(['x'])).rejects.toThrow(/disposed/);
    // A built-in size: random weights from the seed, the built-in vocabulary.
    const [r1, r2, r3] = await Promise.all([
      loadBert('tiny', { device: 'cpu', seed: 3 }),
      loadBert('tiny', { device: 'cpu', seed: 3 }),
      loadBert('tiny', { device: 'cpu', seed: 4 }),
    ]);
    expect(r1.facts).toMatchObject({ kind: 'random', hiddenSize: 128 });
    const [v1, v2, v3] = await Promise.all([r1.encode(['breast cancer']), r2.encode(['breast cancer']), r3.encode(['breast cancer'])]);
    expect(Array.from(v1)).toEqual(Array.from(v2));
    expect(Array.from(v1)).not.toEqual(Array.from(v3));
    await Promise.all([r1.dispose(), r2.dispose(), r3.dispose()]);
    await expect(loadBert('tiny', { side: 'context' })).rejects.toMatchObject({ field: 'side' });
  }, 120_000);
});
