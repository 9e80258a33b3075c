// Mixed precision keeps f32 weights and casts them to a bf16 working copy per forward; an
// inference-only model may keep that copy (Bert.keepWeightCopy). Whatever may change the weights
// (parameters(), a grad forward) must make the next forward cast again: never a stale copy.
import { describe, expect, it } from 'vitest';

import { Bert } from '../src/models/bert.js';
import { initBertParams } from '../src/models/init.js';
import { engineInfo } from '../src/native.js';
import { tinyBertConfig } from './support/tiny-bert.js';

const B = 2,
  T = 6;
const ids = Int32Array.from({ length: B * T }, (_, i) => 1 + ((i * 7) % 39));
const mask = new Int32Array(B * T).fill(1);
const input = { inputIds: ids, attentionMask: mask, batch: B, seq: T, clsOnly: true } as const;

// The CPU backend runs bf16 only with AVX512_BF16; the reference backend emulates it everywhere.
const devices: Array<'cpu' | 'ref'> = ['ref'];
if (engineInfo().backends.cpu?.caps.floats.includes('bf16')) devices.push('cpu');

function cls(bert: Bert, grad = false): Float32Array {
  return bert.forward({ ...input, train: false, grad }).cls.download() as Float32Array;
}

describe('Bert.keepWeightCopy (bf16 working copy kept across no-grad forwards)', () => {
  for (const device of devices)
    it(`${device}: same outputs as casting every forward, and new weights are always seen`, () => {
      const config = tinyBertConfig({ pooler: true, dropout: 0 });
      const probe = new Bert(config, device, { precision: 'bf16' });
      const w1 = initBertParams(probe.layout, probe.numParameters, 1),
        w2 = initBertParams(probe.layout, probe.numParameters, 2);
      const mk = (w: Float32Array, keep: boolean) => {
        const b = new Bert(config, device, { precision: 'bf16' });
        b.parameters().upload(w);
        if (keep) b.keepWeightCopy();
        return b;
      };
      const plain1 = cls(mk(w1, false)),
        plain2 = cls(mk(w2, false));
      expect(plain1).not.toEqual(plain2);

      const kept = mk(w1, true);
      expect(cls(kept)).toEqual(plain1);
      expect(cls(kept)).toEqual(plain1); // the kept copy
      kept.parameters().upload(w2); // new weights through parameters(): the next forward casts
      expect(cls(kept)).toEqual(plain2);
      // Held reference written without calling parameters() again, after a grad forward: the grad
      // forward leaves the copy stale-marked, so the following forward still casts.
      const held = kept.parameters();
      cls(kept, true);
      held.upload(w1);
      expect(cls(kept)).toEqual(plain1);
      // keepWeightCopy(false): back to one cast per forward.
      kept.keepWeightCopy(false);
      held.upload(w2);
      expect(cls(kept)).toEqual(plain2);
    });
});
