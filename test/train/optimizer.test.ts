// FlatAdamW against the update written out here: BLINK's AdamW (no bias correction, decay on the
// updated weight) on trained tensors only, decay 0.01 except names with bias/gamma/beta.
import { describe, expect, it } from 'vitest';

import { tensor } from '../../src/native.js';
import { FlatAdamW } from '../../src/train/optimizer.js';
import { randn } from '../support/rng.js';

describe('FlatAdamW', () => {
  it('updates trained tensors with per-name decay and leaves frozen ones alone', () => {
    const layout = [
      { name: 'enc.weight', shape: [2, 3], offset: 0 },
      { name: 'enc.bias', shape: [3], offset: 6 },
      { name: 'enc.LayerNorm.weight', shape: [2], offset: 9 },
      { name: 'frozen.weight', shape: [4], offset: 11 },
      { name: 'enc.LayerNorm.beta', shape: [2], offset: 15 },
    ];
    const n = 17,
      p0 = randn(n, 1),
      g = randn(n, 2);
    const part = { prefix: 'm.', params: tensor('cpu', 'f32', [n], p0), grads: tensor('cpu', 'f32', [n], g), layout };
    const opt = new FlatAdamW('cpu', [part], { patterns: ['enc.'] });
    expect(opt.frozenNames).toEqual(['m.frozen.weight']);
    expect(opt.trainableElements).toBe(13);
    const lr = 0.1;
    opt.update(lr);
    opt.update(lr);
    const got = part.params.download() as Float32Array;
    for (let i = 0; i < n; i++) {
      const name = layout.find((e) => i >= e.offset && i < e.offset + e.shape.reduce((a, b) => a * b, 1))!.name;
      let p = p0[i]!,
        m = 0,
        v = 0;
      if (!name.startsWith('frozen')) {
        for (let s = 0; s < 2; s++) {
          m = 0.9 * m + 0.1 * g[i]!;
          v = 0.999 * v + 0.001 * g[i]! ** 2;
          p -= (lr * m) / (Math.sqrt(v) + 1e-6);
          if (!/bias|gamma|beta/.test(name)) p -= lr * 0.01 * p;
        }
      }
      expect(got[i], `${name}[${i}]`).toBeCloseTo(p, 4);
    }
  });

  it('decayed: a predicate picks the decayed tensors (SapBERT: every one, as torch AdamW)', () => {
    const layout = [
      { name: 'w', shape: [3], offset: 0 },
      { name: 'bias', shape: [3], offset: 3 },
    ];
    const p0 = randn(6, 3),
      zero = new Float32Array(6);
    const run = (decayed?: (name: string) => boolean) => {
      const part = { prefix: '', params: tensor('cpu', 'f32', [6], p0), grads: tensor('cpu', 'f32', [6], zero), layout };
      new FlatAdamW('cpu', [part], { patterns: null, weightDecay: 0.5, ...(decayed ? { decayed } : {}) }).update(0.1);
      return part.params.download() as Float32Array;
    };
    // A zero gradient leaves only the decay: p (1 - lr * wd).
    const all = run(() => true),
      blink = run();
    for (let i = 0; i < 6; i++) expect(all[i]).toBeCloseTo(p0[i]! * 0.95, 6);
    for (let i = 3; i < 6; i++) expect(blink[i]).toBeCloseTo(p0[i]!, 6);
  });
});
