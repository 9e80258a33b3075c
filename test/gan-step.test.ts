// The GAN's critic and generator steps against PyTorch autograd (test/fixtures/gan/step.json from
// test/reference/make_gan_fixture.py, create_graph=True double backward for the penalty) and
// against finite differences of our own forward.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { DescriptionEncoder, Gan } from '../src/models/gan.js';
import type { Mlp2 } from '../src/models/mlp.js';
import { Workspace } from '../src/models/workspace.js';
import { tensor, type DeviceName, type NativeTensor } from '../src/native.js';
import { cudaReason, hasCuda, testsDevice } from './support/backends.js';
import { criticStep, generatorStep } from '../src/train/gan-step.js';
import { penaltyFromNorms } from '../src/train/gan-penalty.js';

interface Named {
  shape: number[];
  data: number[];
}
interface Fixture {
  sizes: { batch: number; feat: number; cond: number; noise: number; hidden: number };
  lambda: number;
  mseWeight: number;
  discriminator: Record<string, Named>;
  generator: Record<string, Named>;
  inputs: Record<'real' | 'fake' | 'cond' | 'alpha' | 'noise', number[]>;
  critic: {
    wReal: number;
    wFake: number;
    penalty: number;
    loss: number;
    norms: number[];
    gradPenalty: Record<string, number[]>;
    gradPenaltyCond: number[];
    grad: Record<string, number[]>;
    gradCond: number[];
  };
  generatorStep: { loss: number; fake: number[]; grad: Record<string, number[]> };
}

const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'gan', 'step.json'), 'utf8')) as Fixture;
const { batch: B, feat: F, cond: C } = fx.sizes;

function load(m: Mlp2, w: Record<string, Named>): void {
  const flat = new Float32Array(m.numParameters);
  for (const e of m.layout) {
    expect(w[e.name]!.shape).toEqual(e.shape);
    flat.set(w[e.name]!.data, e.offset);
  }
  m.params.upload(flat);
}

function grads(m: Mlp2): Record<string, Float32Array> {
  const g = m.grads.download() as Float32Array;
  return Object.fromEntries(m.layout.map((e) => [e.name, g.slice(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1))]));
}

/** max |a − b| <= tol · max(1, max |b|) */
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4): void {
  expect(a.length).toBe(b.length);
  let scale = 1,
    err = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  expect(err).toBeLessThanOrEqual(tol * scale);
}

// A GAN without a meaningful E: the steps only take E's output (the fixture's condition).
const encoderCfg = {
  vocabSize: 8,
  hiddenSize: C,
  numLayers: 1,
  numHeads: 1,
  intermediateSize: 8,
  maxPositions: 8,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  pooler: false,
  hiddenDropout: 0,
  attentionDropout: 0,
};
const encoders = new Map<DeviceName, DescriptionEncoder>();

function setup(dev: DeviceName = 'cpu'): { gan: Gan; ws: Workspace; t: Record<string, NativeTensor> } {
  if (!encoders.has(dev)) encoders.set(dev, new DescriptionEncoder(encoderCfg, dev));
  const gan = new Gan(encoders.get(dev)!, F, dev);
  expect(gan.dims).toEqual({ featDim: F, condDim: C, noiseDim: fx.sizes.noise, hiddenDim: fx.sizes.hidden });
  load(gan.discriminator.mlp, fx.discriminator);
  load(gan.generator.mlp, fx.generator);
  gan.discriminator.mlp.zeroGrad();
  gan.generator.mlp.zeroGrad();
  const t = {
    real: tensor(dev, 'f32', [B, F], Float32Array.from(fx.inputs.real)),
    fake: tensor(dev, 'f32', [B, F], Float32Array.from(fx.inputs.fake)),
    cond: tensor(dev, 'f32', [B, C], Float32Array.from(fx.inputs.cond)),
  };
  return { gan, ws: new Workspace(dev), t };
}

const alpha = Float32Array.from(fx.inputs.alpha);

if (!hasCuda) console.warn(`GAN steps: cuda variant skipped: ${cudaReason}`);
for (const dev of (['cpu', 'cuda'] as const).filter(testsDevice))
  describe.skipIf(dev === 'cuda' && !hasCuda)(dev, () => {
    describe('GAN critic step vs PyTorch autograd (create_graph=True)', () => {
      it('loss, penalty and row norms', () => {
        const { gan, ws, t } = setup(dev);
        const r = criticStep(gan.discriminator, ws, { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha }, { condGrad: true });
        expect(r.wReal).toBeCloseTo(fx.critic.wReal, 5);
        expect(r.wFake).toBeCloseTo(fx.critic.wFake, 5);
        expect(r.penalty).toBeCloseTo(fx.critic.penalty, 4);
        expect(r.loss).toBeCloseTo(fx.critic.loss, 4);
        close(r.norms, fx.critic.norms);
      });

      it('the penalty alone: its gradients w.r.t. every D parameter, and exactly zero w.r.t. the condition', () => {
        const { gan, ws, t } = setup(dev);
        const r = criticStep(
          gan.discriminator,
          ws,
          { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha },
          { condGrad: true, wasserstein: false },
        );
        const g = grads(gan.discriminator.mlp);
        for (const [n, ref] of Object.entries(fx.critic.gradPenalty)) close(g[n]!, ref);
        // The penalty's path to the condition runs only through LeakyReLU's derivative (zero a.e.).
        expect(fx.critic.gradPenaltyCond.every((v) => v === 0)).toBe(true);
        expect(fx.critic.gradPenalty['fc1.bias']!.every((v) => v === 0)).toBe(true);
        expect([...(r.dCond!.download() as Float32Array)].every((v) => v === 0)).toBe(true);
      });

      it('the whole critic loss: D gradients and the condition gradient', () => {
        const { gan, ws, t } = setup(dev);
        const r = criticStep(gan.discriminator, ws, { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha }, { condGrad: true });
        const g = grads(gan.discriminator.mlp);
        for (const [n, ref] of Object.entries(fx.critic.grad)) close(g[n]!, ref);
        close(r.dCond!.download() as Float32Array, fx.critic.gradCond);
      });

      it('accumulates: two steps give twice the gradient', () => {
        const { gan, ws, t } = setup(dev);
        const inp = { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha };
        criticStep(gan.discriminator, ws, inp);
        criticStep(gan.discriminator, ws, inp);
        const g = grads(gan.discriminator.mlp);
        for (const [n, ref] of Object.entries(fx.critic.grad))
          close(
            g[n]!,
            ref.map((v) => 2 * v),
          );
      });
    });

    describe('GAN generator step vs PyTorch autograd', () => {
      it('features, loss (with the MSE term) and G gradients; D gradients untouched', () => {
        const { gan, ws, t } = setup(dev);
        // The fixture's noise: generateFrom draws from a seed, so feed it through the generator's slot directly.
        const noise = (gan as unknown as { ws: Workspace }).ws.get('noise.gstep', 'f32', [B, fx.sizes.noise]);
        const orig = gan.generateFrom.bind(gan);
        gan.generateFrom = (cond, rows, _seed, slot) => {
          noise.upload(Float32Array.from(fx.inputs.noise));
          return gan.generator.forward(noise, cond, rows, slot);
        };
        const r = generatorStep(gan, ws, { rows: B, cond: t.cond!, real: t.real!, noiseSeed: 0 }, { mseWeight: fx.mseWeight });
        gan.generateFrom = orig;
        close(r.fake.download() as Float32Array, fx.generatorStep.fake);
        expect(r.total).toBeCloseTo(fx.generatorStep.loss, 5);
        const g = grads(gan.generator.mlp);
        for (const [n, ref] of Object.entries(fx.generatorStep.grad)) close(g[n]!, ref);
        expect([...(gan.discriminator.mlp.grads.download() as Float32Array)].every((v) => v === 0)).toBe(true);
      });
    });
  });

describe('GAN critic step vs finite differences', () => {
  const h = 1e-2;
  function lossWith(mutate: (p: Float32Array, c: Float32Array) => void): number {
    const { gan, ws, t } = setup();
    const p = gan.discriminator.mlp.params.download() as Float32Array;
    const c = Float32Array.from(fx.inputs.cond);
    mutate(p, c);
    gan.discriminator.mlp.params.upload(p);
    t.cond!.upload(c);
    return criticStep(gan.discriminator, ws, { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha }).loss;
  }
  it('w.r.t. a few D parameters and condition elements', () => {
    const { gan, ws, t } = setup();
    const r = criticStep(gan.discriminator, ws, { rows: B, real: t.real!, fake: t.fake!, cond: t.cond!, alpha }, { condGrad: true });
    const g = gan.discriminator.mlp.grads.download() as Float32Array;
    const dc = r.dCond!.download() as Float32Array;
    const L = gan.discriminator.mlp.layout;
    const picks = [
      L[0]!.offset + 3,
      L[0]!.offset + 17 * 5 + 2,
      L[0]!.offset + (F + C) * 7 + F + 4,
      L[1]!.offset + 2,
      L[2]!.offset + 5,
      L[2]!.offset + 11,
      L[3]!.offset,
    ];
    for (const i of picks) {
      const fd =
        (lossWith((p) => {
          p[i]! += h;
        }) -
          lossWith((p) => {
            p[i]! -= h;
          })) /
        (2 * h);
      expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(g[i]!)));
    }
    for (const j of [0, 5, 3 * C + 7, 5 * C + 15]) {
      const fd =
        (lossWith((_p, c) => {
          c[j]! += h;
        }) -
          lossWith((_p, c) => {
            c[j]! -= h;
          })) /
        (2 * h);
      expect(Math.abs(fd - dc[j]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(dc[j]!)));
    }
  });
});

describe('penalty arithmetic', () => {
  it('value is λ/B Σ(n−1)² (the per-row gradient is the gradPenalty op, tested in ops.test)', () => {
    expect(penaltyFromNorms(Float32Array.from([0, 2, 1]), 10)).toBeCloseTo((10 * (1 + 1 + 0)) / 3, 6);
    expect(penaltyFromNorms(new Float32Array(0), 10)).toBe(0);
  });
});
