// One critic step and one generator step of BioFEG's WGAN-GP (train_gan.py), forward and
// backward written on the op table, the gradient penalty's double backward included.
//
// Critic, for a batch of B rows with real r, fake f (no gradient to G), condition c, α per row:
//   loss_D = mean D(f, c) − mean D(r, c) + λ/B Σ_i (‖g_i‖ − 1)²,  g_i = ∂D(x_i, c_i)/∂x_i,
//   x = α r + (1 − α) f.
// With D = w2·σ(W1 [x | c] + b1) + b2 (σ = LeakyReLU 0.2), g_i = W1xᵀ (σ'(h_i) ⊙ w2) where W1x
// is the feature block of W1. σ' is piecewise constant, so (as in PyTorch's double backward,
// where leaky_relu_backward's derivative w.r.t. its input is zero) the penalty's gradient has
// no path through h: it reaches only w2 and W1x, and is exactly zero for b1, b2, W1's condition
// block and the condition c itself. With u_i = ∂penalty/∂g_i = c_i g_i and s_i = σ'(h_i) ⊙ w2:
//   ∂penalty/∂W1x = Σ_i s_i u_iᵀ,   ∂penalty/∂w2 = Σ_i σ'(h_i) ⊙ (W1x u_i).
// Implementation: the three row blocks [real; fake; interpolates] go through D in one GEMM;
// backward from dO = (−1/B, +1/B, 1) gives the Wasserstein dH for the first 2B rows and s for
// the last B; the interpolate rows of D's input are then overwritten with [u | 0] so one GEMM
// dHᵀX adds both the Wasserstein and the penalty parts of ∂/∂W1.
//
// The original feeds D a detached copy of E(c) (torch.autograd.Variable detaches) in its
// Wasserstein terms and E(c) itself only in the penalty, so E's gradient from the critic is the
// penalty's: zero. `condGrad: true` returns instead the gradient of the whole critic loss
// w.r.t. c (Wasserstein terms; the penalty adds zero), for training E through the critic.
import { engineFor } from '../engine.js';
import type { NativeTensor } from '../native.js';
import type { ConditionalDiscriminator, Gan } from '../models/gan.js';
import type { Workspace } from '../models/workspace.js';
import { addRowScaled, penaltyFromNorms, queueRowNormPenalty } from './gan-penalty.js';

export const GP_LAMBDA = 10;

export interface CriticInput {
  rows: number;
  real: NativeTensor; // [B, F]
  fake: NativeTensor; // [B, F]
  cond: NativeTensor; // [B, C]
  /** Interpolation weight per row, in [0, 1). */
  alpha: Float32Array;
}

export interface CriticOptions {
  lambda?: number;
  /** Return ∂loss_D/∂c (the Wasserstein terms' part; see above). Default false. */
  condGrad?: boolean;
  /** Include the Wasserstein terms (default true); false leaves the penalty alone (tests). */
  wasserstein?: boolean;
  /** Include the penalty (default true). */
  penalty?: boolean;
}

export interface CriticResult {
  /** mean D(real, c), mean D(fake, c). */
  wReal: number;
  wFake: number;
  penalty: number;
  /** wFake − wReal + penalty (the original's d_cost). */
  loss: number;
  norms: Float32Array;
  /** [B, C] when condGrad; valid until the next critic step. */
  dCond?: NativeTensor;
}

function meanRows(y: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += y[i]!;
  return s / (to - from);
}

/** Critic loss and gradients: ACCUMULATES into D's gradient buffer (zero it between steps). */
export function criticStep(D: ConditionalDiscriminator, ws: Workspace, inp: CriticInput, o: CriticOptions = {}): CriticResult {
  const mlp = D.mlp,
    eng = engineFor(D.device);
  const B = inp.rows,
    F = D.aDim,
    C = D.bDim,
    H = mlp.hidden,
    K = F + C;
  const lambda = o.lambda ?? GP_LAMBDA;
  const useW = o.wasserstein ?? true,
    useP = o.penalty ?? true;

  // Inputs [real; fake; interpolates] ⊕ [c; c; c].
  const feat = ws.get('critic.feat', 'f32', [3 * B, F]);
  const cond3 = ws.get('critic.cond', 'f32', [3 * B, C]);
  ws.view(feat, 0, [B, F]).copyFrom(inp.real);
  ws.view(feat, B * F, [B, F]).copyFrom(inp.fake);
  const diff = ws.get('critic.diff', 'f32', [B, F]);
  diff.copyFrom(inp.real);
  eng.axpy(-1, inp.fake, diff);
  addRowScaled(D.device, ws, inp.fake, diff, inp.alpha, ws.view(feat, 2 * B * F, [B, F]), B);
  for (let k = 0; k < 3; k++) ws.view(cond3, k * B * C, [B, C]).copyFrom(inp.cond);
  const t = D.forward(feat, cond3, 3 * B, 'critic');
  // [D's 3B outputs | B penalty norms], read back in one download at the end (on CUDA, one wait).
  const back = ws.get('critic.readback', 'f32', [4 * B]);
  ws.view(back, 0, [3 * B, 1]).copyFrom(t.y);
  const normsT = ws.view(back, 3 * B, [B]);

  // dO per row; the interpolate rows get 1 so that their dH is s_i = σ'(h_i) ⊙ w2.
  const dOh = new Float32Array(3 * B);
  if (useW)
    for (let i = 0; i < B; i++) {
      dOh[i] = -1 / B;
      dOh[B + i] = 1 / B;
    }
  dOh.fill(1, 2 * B);
  const dO = ws.constant('critic.dO', 'f32', [3 * B, 1], dOh);
  const dH = ws.get('critic.dH', 'f32', [3 * B, H]);
  eng.gemm(dO, mlp.w2, dH);
  eng.leakyReluBackward(t.h, dH, dH, 0.2);
  const dO2 = ws.view(dO, 0, [2 * B, 1]),
    dH2 = ws.view(dH, 0, [2 * B, H]);
  // Wasserstein parts of fc2 and fc1.bias (zero contributions when useW is false).
  eng.gemm(dO2, ws.view(t.a, 0, [2 * B, H]), mlp.dw2, { transA: true, beta: 1 });
  eng.biasGrad(dO2, mlp.db2);
  eng.biasGrad(dH2, mlp.db1);

  const xInterp = ws.view(t.x, 2 * B * K, [B, K]);
  const S = ws.view(dH, 2 * B * H, [B, H]);
  if (useP) {
    // g = S W1x (W1x: the feature columns of W1, read in place).
    const g = ws.get('critic.g', 'f32', [B, F]);
    eng.gemm(S, mlp.w1, g, { bCols: F });
    const u = g; // u = c ⊙ g, in place
    queueRowNormPenalty(D.device, g, u, lambda, normsT);
    // [u | 0] replaces the interpolates in D's input: dW1 += dHᵀ X then covers both parts.
    const zc = ws.get('critic.zc', 'f32', [B, C]);
    eng.fill(zc, 0);
    eng.concat(u, zc, xInterp);
    // ∂penalty/∂w2 = Σ_i σ'(h_i) ⊙ (u_i W1xᵀ).
    const dS = ws.get('critic.dS', 'f32', [B, H]);
    eng.gemm(u, mlp.w1, dS, { transB: true, bCols: F });
    eng.leakyReluBackward(ws.view(t.h, 2 * B * H, [B, H]), dS, dS, 0.2);
    eng.biasGrad(dS, ws.view(mlp.grads, mlp.layout[2]!.offset, [H]));
  } else {
    eng.fill(xInterp, 0);
    eng.fill(normsT, 1); // a zero penalty
  }
  eng.gemm(dH, t.x, mlp.dw1, { transA: true, beta: 1 });

  let dCond: NativeTensor | undefined;
  if (o.condGrad) {
    // Σ over the real and fake rows of dH W1, condition columns.
    const dHs = ws.get('critic.dHsum', 'f32', [B, H]);
    eng.add(ws.view(dH, 0, [B, H]), ws.view(dH, B * H, [B, H]), dHs);
    const dX = ws.get('critic.dX', 'f32', [B, K]);
    eng.gemm(dHs, mlp.w1, dX);
    const dF = ws.get('critic.dXf', 'f32', [B, F]);
    dCond = ws.get('critic.dCond', 'f32', [B, C]);
    eng.concatBackward(dX, dF, dCond);
  }
  const y = back.download() as Float32Array;
  const wReal = meanRows(y, 0, B),
    wFake = meanRows(y, B, 2 * B);
  const norms = y.slice(3 * B);
  const penalty = useP ? penaltyFromNorms(norms, lambda) : 0;
  return { wReal, wFake, penalty, loss: (useW ? wFake - wReal : 0) + penalty, norms, ...(dCond ? { dCond } : {}) };
}

export interface GeneratorInput {
  rows: number;
  cond: NativeTensor; // [B, C] (a constant for G)
  real: NativeTensor; // [B, F], for the MSE
  noiseSeed: number;
}

export interface GeneratorResult {
  /** −mean D(relu(G(z, c)), c) (the original's g_cost). */
  loss: number;
  /** mean (relu(G) − real)² (logged; added to the loss with mseWeight). */
  mse: number;
  /** loss + mseWeight · mse. */
  total: number;
  /** The generated features [B, F], valid until the next generator step. */
  fake: NativeTensor;
}

/** Generator loss and gradients: ACCUMULATES into G's gradient buffer; D's gradients are untouched. */
export function generatorStep(gan: Gan, ws: Workspace, inp: GeneratorInput, o: { mseWeight?: number } = {}): GeneratorResult {
  const G = gan.generator,
    D = gan.discriminator,
    eng = engineFor(gan.device);
  const B = inp.rows,
    F = gan.dims.featDim,
    C = gan.dims.condDim;
  const w = o.mseWeight ?? 0;
  const tg = gan.generateFrom(inp.cond, B, inp.noiseSeed, 'gstep');
  const fake = ws.get('gen.fake', 'f32', [B, F]);
  eng.relu(tg.y, fake);
  // [D's B outputs | the MSE], read back in one download once the backward is queued.
  const back = ws.get('gen.readback', 'f32', [B + 1]);
  eng.mse(fake, inp.real, ws.view(back, B, [1]));
  const td = D.forward(fake, inp.cond, B, 'gstep');
  ws.view(back, 0, [B, 1]).copyFrom(td.y);

  const dO = ws.get('gen.dO', 'f32', [B, 1]);
  eng.fill(dO, -1 / B);
  const dX = D.mlp.backward(td, dO, { params: false, input: true, slot: 'gstep' })!;
  const dFake = ws.get('gen.dFake', 'f32', [B, F]),
    dC = ws.get('gen.dC', 'f32', [B, C]);
  eng.concatBackward(dX, dFake, dC);
  if (w !== 0) {
    const dm = ws.get('gen.dMse', 'f32', [B, F]);
    eng.mseBackward(fake, inp.real, w, dm);
    eng.axpy(1, dm, dFake);
  }
  eng.reluBackward(tg.y, dFake, dFake);
  G.mlp.backward(tg, dFake, { params: true, input: false, slot: 'gstep' });
  const y = back.download() as Float32Array;
  const loss = -meanRows(y, 0, B),
    mse = y[B]!;
  return { loss, mse, total: loss + w * mse, fake };
}
