// Plain float64 references for the op suite, written from the math, independent of native/.
import { dropoutKeep } from './philox.js';

type A = ArrayLike<number>;

export function gemmRef(
  A: A,
  B: A,
  M: number,
  N: number,
  K: number,
  o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; C?: A; bias?: A; gelu?: boolean } = {},
): { out: Float64Array; pre: Float64Array } {
  const out = new Float64Array(M * N);
  const pre = new Float64Array(M * N);
  const alpha = o.alpha ?? 1,
    beta = o.beta ?? 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = o.transA ? A[k * M + i]! : A[i * K + k]!;
        const b = o.transB ? B[j * K + k]! : B[k * N + j]!;
        s += a * b;
      }
      let v = alpha * s + (beta !== 0 && o.C ? beta * o.C[i * N + j]! : 0);
      if (o.bias) v += o.bias[j]!;
      pre[i * N + j] = v;
      out[i * N + j] = o.gelu ? gelu(v) : v;
    }
  return { out, pre };
}

// erf by Abramowitz-Stegun 7.1.26 is too coarse for 1e-6 checks; use a series/continued fraction.
export function erf(x: number): number {
  const s = Math.sign(x),
    ax = Math.abs(x);
  if (ax < 3) {
    let sum = ax,
      term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return (s * 2 * sum) / Math.sqrt(Math.PI);
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  return s * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}
export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

export function layernormRef(x: A, w: A, b: A, N: number, C: number, eps: number) {
  const y = new Float64Array(N * C),
    mean = new Float64Array(N),
    rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0,
      v = 0;
    for (let c = 0; c < C; c++) m += x[n * C + c]!;
    m /= C;
    for (let c = 0; c < C; c++) v += (x[n * C + c]! - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[n * C + c] = (x[n * C + c]! - m) * r * w[c]! + b[c]!;
    mean[n] = m;
    rstd[n] = r;
  }
  return { y, mean, rstd };
}

export function xentRef(x: A, t: ArrayLike<number>, N: number, C: number): Float64Array {
  const loss = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    if (t[n]! < 0) continue;
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, x[n * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[n * C + c]! - mx);
    loss[n] = mx + Math.log(s) - x[n * C + t[n]!]!;
  }
  return loss;
}

export interface AttnShape {
  B: number;
  T: number;
  H: number;
  D: number;
  scale: number;
  p: number;
  seed: bigint;
  offset: bigint;
}

/** out [B,T,H,D], lse [B,H,T]; a row with no real key gives 0 and -Infinity. */
export function attentionRef(qkv: A, mask: ArrayLike<number> | null, s: AttnShape) {
  const { B, T, H, D, scale, p } = s;
  const row = 3 * H * D;
  const out = new Float64Array(B * T * H * D),
    lse = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const sc: number[] = [];
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          if (mask && !mask[b * T + j]) {
            sc.push(-Infinity);
            continue;
          }
          let d = 0;
          for (let e = 0; e < D; e++) d += qkv[(b * T + i) * row + h * D + e]! * qkv[(b * T + j) * row + H * D + h * D + e]!;
          sc.push(d * scale);
          mx = Math.max(mx, d * scale);
        }
        if (mx === -Infinity) {
          lse[(b * H + h) * T + i] = -Infinity;
          continue;
        }
        let z = 0;
        for (let j = 0; j < T; j++) if (sc[j]! > -Infinity) z += Math.exp(sc[j]! - mx);
        const l = mx + Math.log(z);
        lse[(b * H + h) * T + i] = l;
        for (let j = 0; j < T; j++) {
          if (sc[j] === -Infinity) continue;
          let pr = Math.exp(sc[j]! - l);
          if (p > 0) {
            const ctr = s.offset + BigInt(((b * H + h) * T + i) * T + j);
            pr = dropoutKeep(s.seed, ctr, p) ? pr / (1 - p) : 0;
          }
          for (let e = 0; e < D; e++) out[((b * T + i) * H + h) * D + e] += pr * qkv[(b * T + j) * row + 2 * H * D + h * D + e]!;
        }
      }
  return { out, lse };
}

/** Central differences of L(x) = sum(f(x) * g) w.r.t. every element of x (float64). */
export function numericGrad(x: ArrayLike<number>, f: (x: Float64Array) => ArrayLike<number>, g: ArrayLike<number>, h = 1e-4): Float64Array {
  const xx = Float64Array.from(x);
  const out = new Float64Array(xx.length);
  const L = (): number => {
    const y = f(xx);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * g[i]!;
    return s;
  };
  for (let i = 0; i < xx.length; i++) {
    const v = xx[i]!;
    xx[i] = v + h;
    const lp = L();
    xx[i] = v - h;
    const lm = L();
    xx[i] = v;
    out[i] = (lp - lm) / (2 * h);
  }
  return out;
}

export interface MsLossSettings {
  alpha: number;
  beta: number;
  base: number;
  margin: number;
}
/**
 * pytorch_metric_learning's MultiSimilarityLoss on the pairs of TripletMarginMiner("all"), from
 * the cosine similarities (float64): each anchor's loss, d(sum of losses)/d sim with the mined
 * pairs fixed, and the number of mined triplets (at most one: every loss and gradient is 0).
 */
export function msLossRef(sim: A, labels: ArrayLike<number>, M: number, s: MsLossSettings) {
  const dist = (x: number) => Math.sqrt(Math.max(0, 2 - 2 * x));
  const loss = new Float64Array(M),
    dsim = new Float64Array(M * M);
  let triplets = 0;
  for (let a = 0; a < M; a++) {
    const pos: number[] = [],
      neg: number[] = [];
    for (let j = 0; j < M; j++) if (j !== a) (labels[j] === labels[a] ? pos : neg).push(j);
    const keepP = new Set<number>(),
      keepN = new Set<number>();
    for (const p of pos)
      for (const n of neg)
        if (dist(sim[a * M + n]!) - dist(sim[a * M + p]!) <= s.margin) {
          triplets++;
          keepP.add(p);
          keepN.add(n);
        }
    const side = (js: Set<number>, x: (j: number) => number, k: number, sign: number) => {
      if (js.size === 0) return 0;
      const xs = [...js].map(x);
      const mx = Math.max(0, ...xs);
      const lse = mx + Math.log(Math.exp(-mx) + xs.reduce((t, v) => t + Math.exp(v - mx), 0));
      [...js].forEach((j, i) => (dsim[a * M + j] = sign * Math.exp(xs[i]! - lse)));
      return lse / k;
    };
    loss[a] =
      side(keepP, (j) => s.alpha * (s.base - sim[a * M + j]!), s.alpha, -1) +
      side(keepN, (j) => s.beta * (sim[a * M + j]! - s.base), s.beta, 1);
  }
  if (triplets <= 1) {
    loss.fill(0);
    dsim.fill(0);
  }
  return { loss, dsim, triplets };
}
