// A checkpoint opened for linking (openContextModel): the context encoder loaded as the full
// load loads it (in chunks), the candidate encoder never built, and its hash computed from the file equal to
// candidateHash of the fully loaded model, so indexes built before keep loading and an index of
// other candidate weights is still refused. Files that are not exactly the model's state_dict
// take the general path and its errors.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

import { readSafetensors, writeSafetensors } from '../../src/checkpoint/index.js';
import { CheckpointRejectedError } from '../../src/errors.js';
import { candidateHashPrefix, openContextModel, openLinkModel } from '../../src/link/model.js';
import { loadContext } from '../../src/link/model-file.js';
import { type BiEncoder, BlinkEncoder } from '../../src/models/biencoder.js';
import { native } from '../../src/native.js';
import { saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { cleanup, TINY, tinyModel, tmp, VOCAB } from '../eval/retrieve-helpers.js';
import { randn } from '../support/rng.js';

afterAll(cleanup);

async function save(model: BiEncoder, addLinear: boolean): Promise<string> {
  const dir = join(tmp('biofeg-model-file-'), 'model');
  await saveBiEncoder(dir, model, {
    settings: { addLinear, outDim: addLinear ? 16 : 1 },
    vocabPath: VOCAB,
    lowercase: true,
    torchBin: false,
    inference: { maxContextLength: 32, maxCandLength: 48 },
  });
  return dir;
}

const flat = (e: BlinkEncoder) => e.parts().flatMap((p) => Array.from(p.params.download() as Float32Array));

function withLinear(seed: number): BiEncoder {
  const m = tinyModel(seed, { config: { ...TINY, pooler: true }, addLinear: true, outDim: 16 });
  for (const side of [m.context, m.candidate]) side.linear!.params.upload(randn(side.linear!.params.shape[0]!, seed + 9, 0.3));
  return m;
}

describe('openContextModel', () => {
  it('loads the context encoder as openLinkModel does (in chunks too) and hashes the candidate from the file to the same digest', async () => {
    for (const [model, addLinear] of [
      [tinyModel(3, { config: { ...TINY, pooler: true } }), false],
      [withLinear(4), true],
    ] as const) {
      const dir = await save(model, addLinear);
      const full = openLinkModel(dir, 'cpu', 'f32');
      const { lm, hash } = openContextModel(dir, 'cpu', 'f32');
      expect(await hash).toBe(full.hash);
      expect(flat(lm.encoder)).toEqual(flat(full.model.context));
      expect(lm.inference).toEqual(full.inference);
      expect(lm.encoder.outDim).toBe(addLinear ? 16 : TINY.hiddenSize);
      // In chunks of 5 values: the same weights, and the same plan.
      const small = new BlinkEncoder(lm.encoder.config, 'cpu', 'context_encoder', addLinear ? 16 : undefined);
      const prefix = candidateHashPrefix({ embedDim: small.outDim, config: small.bert.config, addLinear }, lm.tokenizer, 48);
      const plan = loadContext(dir, small, prefix, 5);
      expect(plan).toEqual(loadContext(dir, lm.encoder, prefix));
      expect(flat(small)).toEqual(flat(full.model.context));
    }
  });

  it('hands the hash plan over before it reads any context weight (the hash runs alongside the reads)', async () => {
    const dir = await save(tinyModel(6, { config: { ...TINY, pooler: true } }), false);
    const enc = new BlinkEncoder({ ...TINY, pooler: true }, 'cpu', 'context_encoder');
    const unread = flat(enc);
    let atPlan: number[] | undefined;
    const plan = loadContext(dir, enc, '', 5, () => {
      atPlan = flat(enc);
    });
    expect(plan).toBeDefined();
    expect(atPlan).toEqual(unread);
    expect(flat(enc)).not.toEqual(unread);
  });

  it('a candidate weight changed by one ulp changes the hash (an index of the old weights is refused)', async () => {
    const model = tinyModel(5, { config: { ...TINY, pooler: true } });
    const a = await save(model, false);
    const p = model.candidate.bert.parameters();
    const w = p.download() as Float32Array;
    const bits = new Uint32Array(w.buffer);
    bits[w.length - 1]! += 1; // the last parameter: the hash must reach the end of the part
    p.upload(w);
    const b = await save(model, false);
    const [ha, hb] = [await openContextModel(a, 'cpu', 'f32').hash, await openContextModel(b, 'cpu', 'f32').hash];
    expect(ha).not.toBe(hb);
    expect(hb).toBe(openLinkModel(b, 'cpu', 'f32').hash);
  });

  it('a file with an extra tensor takes the general path and is refused as it refuses it', async () => {
    const dir = await save(tinyModel(6, { config: { ...TINY, pooler: true } }), false);
    const file = join(dir, 'model.safetensors');
    const tensors = readSafetensors(file).tensors;
    tensors.set('cand_encoder.extra', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    writeSafetensors(file, tensors);
    expect(() => openContextModel(dir, 'cpu', 'f32')).toThrow(CheckpointRejectedError);
    expect(() => openContextModel(dir, 'cpu', 'f32')).toThrow(/unexpected cand_encoder\.extra/);
  });

  it('an encoder built for the fast path and not used is freed at once, not left to the collector', async () => {
    const model = tinyModel(8, { config: { ...TINY, pooler: true } });
    const dir = join(tmp('biofeg-model-file-'), 'model');
    await saveBiEncoder(dir, model, {
      settings: { addLinear: false, outDim: 1 },
      vocabPath: VOCAB,
      torchBin: true,
      inference: { maxContextLength: 32, maxCandLength: 48 },
    });
    rmSync(join(dir, 'model.safetensors')); // pytorch_model.bin only: loadContext declines, the general path loads it
    const spy = vi.spyOn(BlinkEncoder.prototype, 'dispose'); // calls through
    try {
      const { lm, hash } = openContextModel(dir, 'cpu', 'f32');
      const disposed = spy.mock.contexts as BlinkEncoder[];
      expect(await hash).toBe(openLinkModel(dir, 'cpu', 'f32').hash);
      expect(disposed).toHaveLength(1);
      expect(disposed[0]).not.toBe(lm.encoder);
      expect(() => disposed[0]!.bert.parameters()).toThrow(/has been disposed/);
      expect(flat(lm.encoder)).toEqual(flat(model.context));
    } finally {
      spy.mockRestore();
    }
  });

  it('Bert.dispose frees its storages now; later calls throw', () => {
    const enc = new BlinkEncoder({ ...TINY, pooler: true }, 'cpu', 'context_encoder');
    const before = native().bytesInUse('cpu');
    const weights = enc.bert.numParameters * 4;
    enc.dispose();
    expect(before - native().bytesInUse('cpu')).toBeGreaterThanOrEqual(weights);
    expect(() => enc.bert.parameters()).toThrow(/BertModel\.parameters: the model has been disposed/);
    enc.bert.dispose(); // twice is fine
  });

  it('a non-finite context weight is refused', async () => {
    for (const [bad, shown] of [
      [Number.NaN, 'NaN'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
    ] as const) {
      const dir = await save(tinyModel(7, { config: { ...TINY, pooler: true } }), false);
      const file = join(dir, 'model.safetensors');
      const tensors = readSafetensors(file).tensors;
      const name = 'context_encoder.bert_model.encoder.layer.1.output.dense.weight';
      (tensors.get(name)!.data as Float32Array)[3] = bad;
      writeSafetensors(file, tensors);
      expect(() => openContextModel(dir, 'cpu', 'f32')).toThrow(CheckpointRejectedError);
      expect(() => openContextModel(dir, 'cpu', 'f32')).toThrow(new RegExp(`holds ${shown} at element 3: refusing non-finite weights`));
      // Read in chunks of 2 values, element 3 is in the second: its index in the tensor is named.
      const enc = new BlinkEncoder({ ...TINY, pooler: true }, 'cpu', 'context_encoder');
      expect(() => loadContext(dir, enc, '', 2)).toThrow(new RegExp(`holds ${shown} at element 3: refusing`));
    }
  });
});
