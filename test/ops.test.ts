// test-backend-ops: every op on every backend against a float64 reference written here, and
// every backward against central differences of that reference. CUDA variants skip, with the
// reason printed, where no device exists; `npm run test:gpu` runs just them.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';

import { engine, engineFor, pickDevice } from '../src/engine.js';
import { OP_NAMES } from '../src/engine-ops.js';
import { engineInfo, tensor } from '../src/native.js';
import { cudaReason, hasCuda, host, hostInt, Maker, VARIANTS, type Variant } from './support/backends.js';
import { dropoutKeep, philoxUniform } from './support/philox.js';
import { attentionRef, gelu, gemmRef, layernormRef, msLossRef, numericGrad, xentRef } from './support/ref.js';
import { randint, randn, relErr } from './support/rng.js';

if (!hasCuda) console.warn(`ops suite: cuda variants skipped: ${cudaReason}`);

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const e = relErr(got, want);
  expect(e, `${what}: error ${e.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

it("the Philox reference matches Random123's known-answer vector (philox4x32-10, key 0, counter 0)", () => {
  // Outputs 6627e8d5 e169c58d bc57ac4c 9b00dbd8 feed elements 0..3; a uniform keeps the top 24 bits.
  const want = [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8].map((w) => (w >>> 8) / 16777216);
  expect([0n, 1n, 2n, 3n].map((e) => philoxUniform(0n, e))).toEqual(want);
});

for (const v of VARIANTS) {
  const name = `${v.be}/${v.dt}`;
  describe.skipIf(v.be === 'cuda' && !hasCuda)(name, () => {
    const m = new Maker(v);
    afterEach(() => m.dispose());
    const fdTol = Math.max(v.tol, 2e-3); // FD of an f32 kernel carries f32 rounding

    describe('gemm', () => {
      const shapes = [
        [1, 1, 1],
        [7, 5, 3],
        [13, 37, 29],
        [100, 70, 300],
        [200, 50, 260],
        [6, 16, 256],
        [97, 33, 0],
        // The AVX-512 tile is 8x32 (14x32 for tuning; AVX2 and generic 6x16): full tiles, tails past them,
        // a single row, and K over several K blocks (384 or 192 each).
        [14, 32, 385],
        [15, 33, 17],
        [1, 100, 7],
        [29, 65, 800],
      ];
      for (const [M, N, K] of shapes)
        for (const [ta, tb] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ] as const)
          it(`${M}x${N}x${K} transA=${ta} transB=${tb}`, () => {
            const a = m.f(ta ? [K!, M!] : [M!, K!], randn(M! * K!, 1));
            const b = m.f(tb ? [N!, K!] : [K!, N!], randn(K! * N!, 2));
            const c = m.f([M!, N!], randn(M! * N!, 3));
            const c0 = host(c);
            m.eng.gemm(a, b, c, { transA: ta, transB: tb, alpha: 0.5, beta: 0.25 });
            const want = gemmRef(host(a), host(b), M!, N!, K!, { transA: ta, transB: tb, alpha: 0.5, beta: 0.25, C: c0 }).out;
            close(host(c), want, v.tol * Math.max(1, Math.sqrt(K!) / 4), 'C');
          });
      for (const tb of [false, true])
        it(`bCols: the leading columns of B's rows (transB=${tb})`, () => {
          const [M, N, K, W] = [11, 9, 14, 23]; // stored B: [K, W] (N = bCols) or [N, W] (K = bCols)
          const rows = tb ? N : K,
            cols = tb ? K : N;
          const a = m.f([M, K], randn(M * K, 70)),
            full = randn(rows * W, 71);
          const b = m.f([rows, W], full),
            c = m.f([M, N]);
          m.eng.gemm(a, b, c, { transB: tb, bCols: cols });
          const hb = host(b),
            packed = new Float32Array(rows * cols);
          for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) packed[i * cols + j] = hb[i * W + j]!;
          close(host(c), gemmRef(host(a), packed, M, N, K, { transB: tb }).out, v.tol * 2, 'C');
        });
      // The second shape holds full tiles of every level, so the vector epilogue stores run too.
      for (const [Bt, M, N, K] of [
        [3, 19, 23, 40],
        [2, 30, 70, 40],
      ] as const)
        it(`batched with bias, pre-activation and GELU epilogue (${Bt}x${M}x${N}x${K})`, () => {
          const a = m.f([Bt, M, K], randn(Bt * M * K, 4)),
            b = m.f([Bt, N, K], randn(Bt * N * K, 5));
          const c = m.f([Bt, M, N]),
            pre = m.f([Bt, M, N]),
            bias = m.f([N], randn(N, 6));
          m.eng.gemm(a, b, c, { transB: true, bias, gelu: true, pre });
          const ha = host(a),
            hb = host(b);
          for (let i = 0; i < Bt; i++) {
            const r = gemmRef(ha.subarray(i * M * K), hb.subarray(i * N * K), M, N, K, { transB: true, bias: host(bias), gelu: true });
            close(host(c).subarray(i * M * N, (i + 1) * M * N), r.out, v.tol * 2, `C[${i}]`);
            close(host(pre).subarray(i * M * N, (i + 1) * M * N), r.pre, v.tol * 2, `pre[${i}]`);
          }
        });
      it('backward of C = A B^T via gemm matches finite differences', () => {
        const [M, N, K] = [5, 4, 6];
        const A = randn(M * K, 7),
          Bm = randn(N * K, 8),
          G = randn(M * N, 9);
        const dA = m.f([M, K]);
        m.eng.gemm(m.f([M, N], G), m.f([N, K], Bm), dA, {}); // dA = dC B
        const fd = numericGrad(A, (x) => gemmRef(x, Bm, M, N, K, { transB: true }).out, G);
        close(host(dA), fd, fdTol, 'dA');
      });
    });

    // The mixed-precision cases the BERT uses: bf16 operands, f32 results and accumulators. The
    // inputs are exact in both (bf16 values), so only f32 accumulation error is allowed.
    if (v.dt === 'bf16')
      it('mixed: bf16 A/B into f32 C (beta 1, f32 bias); f32 accumulators of bias, LayerNorm, embedding grads', () => {
        const [M, N, K] = [13, 17, 300];
        const a = m.f([M, K], randn(M * K, 60)),
          b = m.f([N, K], randn(N * K, 61));
        const c0 = randn(M * N, 62),
          c = m.f32([M, N], c0),
          bias = m.f32([N], randn(N, 63));
        m.eng.gemm(a, b, c, { transB: true, beta: 1, bias });
        const want = gemmRef(host(a), host(b), M, N, K, { transB: true, beta: 1, C: c0, bias: host(bias) }).out;
        close(host(c), want, 1e-5, 'f32 C from bf16 A, B'); // a bf16-rounded C would be ~4e-3 off

        const dy = m.f([37, 21], randn(37 * 21, 64)),
          db0 = randn(21, 65),
          db = m.f32([21], db0);
        m.eng.biasGrad(dy, db);
        const dys = host(dy);
        close(
          host(db),
          Array.from(db0, (x, j) => {
            let s = x;
            for (let n = 0; n < 37; n++) s += dys[n * 21 + j]!;
            return s;
          }),
          1e-5,
          'f32 db',
        );

        const [Nr, C] = [29, 24];
        const x = m.f([Nr, C], randn(Nr * C, 66, 2)),
          w = m.f([C], randn(C, 67)),
          bb = m.f([C], randn(C, 68));
        const y = m.f([Nr, C]),
          mean = m.f32([Nr]),
          rstd = m.f32([Nr]);
        m.eng.layernorm(x, w, bb, y, mean, rstd, 1e-5);
        const g = m.f([Nr, C], randn(Nr * C, 69)),
          dx = m.f([Nr, C]);
        const dw0 = randn(C, 70),
          dw = m.f32([C], dw0),
          dbl = m.f32([C]);
        m.eng.layernormBackward(g, x, w, mean, rstd, dx, dw, dbl);
        const [xs, gs] = [host(x), host(g)];
        const r = layernormRef(xs, host(w), host(bb), Nr, C, 1e-5);
        const wantW = Float64Array.from(dw0),
          wantB = new Float64Array(C);
        for (let n = 0; n < Nr; n++)
          for (let j = 0; j < C; j++) {
            wantW[j] += gs[n * C + j]! * (xs[n * C + j]! - r.mean[n]!) * r.rstd[n]!;
            wantB[j] += gs[n * C + j]!;
          }
        close(host(dw), wantW, 1e-4, 'f32 dweight'); // mean/rstd are f32
        close(host(dbl), wantB, 1e-5, 'f32 dbias');

        const ids = randint(40, 11, 71),
          gy = m.f([40, 9], randn(40 * 9, 72)),
          dt = m.f32([11, 9]);
        m.eng.embeddingBackward(m.i32([40], ids), gy, dt);
        const gys = host(gy),
          wantT = new Float64Array(11 * 9);
        for (let n = 0; n < 40; n++) for (let j = 0; j < 9; j++) wantT[ids[n]! * 9 + j] += gys[n * 9 + j]!;
        close(host(dt), wantT, 1e-5, 'f32 dtable');
      });

    it('biasGrad accumulates column sums', () => {
      const dy = randn(37 * 21, 10),
        db0 = randn(21, 11);
      const db = m.f([21], db0);
      m.eng.biasGrad(m.f([37, 21], dy), db);
      const want = Array.from(db0, (x, c) => {
        let s = x;
        for (let n = 0; n < 37; n++) s += dy[n * 21 + c]!;
        return s;
      });
      close(host(db), want, v.tol * 4, 'db');
    });

    it('fill, add, axpy, scale', () => {
      const n = 70001,
        a = randn(n, 12),
        b = randn(n, 13);
      const ta = m.f([n], a),
        tb = m.f([n], b),
        y = m.f([n]);
      m.eng.fill(y, 2.5);
      expect(host(y).every((x) => x === 2.5)).toBe(true);
      m.eng.add(ta, tb, y);
      close(
        host(y),
        Array.from(a, (x, i) => x + b[i]!),
        v.tol,
        'add',
      );
      m.eng.axpy(-2, ta, y);
      close(
        host(y),
        Array.from(a, (x, i) => -x + b[i]!),
        v.tol * 2,
        'axpy',
      );
      m.eng.scale(ta, y, 3);
      close(
        host(y),
        Array.from(a, (x) => 3 * x),
        v.tol,
        'scale',
      );
    });

    const unary: Array<[string, (x: number) => number, 'x' | 'y']> = [
      ['gelu', gelu, 'x'],
      ['relu', (x) => Math.max(0, x), 'x'],
      ['leakyRelu', (x) => (x > 0 ? x : 0.2 * x), 'x'],
      ['tanh', Math.tanh, 'y'],
      ['silu', (x) => x / (1 + Math.exp(-x)), 'x'],
    ];
    for (const [op, f, from] of unary)
      it(`${op} forward and backward`, () => {
        const n = 4099,
          xv = randn(n, 14, 2);
        for (let i = 0; i < n; i++) if (Math.abs(xv[i]!) < 1e-2) xv[i] = 0.5; // keep FD away from kinks
        const x = m.f([n], xv),
          y = m.f([n]),
          g = randn(n, 15),
          dy = m.f([n], g),
          dx = m.f([n]);
        const run = (a: typeof x, b: typeof y) =>
          op === 'leakyRelu' ? m.eng.leakyRelu(a, b, 0.2) : m.eng[op as 'gelu' | 'relu' | 'tanh' | 'silu'](a, b);
        run(x, y);
        const xs = host(x);
        close(host(y), Array.from(xs, f), v.tol, 'y');
        const src = from === 'x' ? x : y;
        if (op === 'leakyRelu') m.eng.leakyReluBackward(src, dy, dx, 0.2);
        else m.eng[`${op}Backward` as 'geluBackward'](src, dy, dx);
        const fd = numericGrad(xs, (z) => Array.from(z, f), host(dy));
        close(host(dx), fd, fdTol, 'dx');
      });

    for (const [n, offset] of [
      [50000, 77n],
      [37, 0n],
      [101, 2n],
      [64, 4n],
    ] as const)
      it(`dropout (n ${n}, offset ${offset}): Philox mask, scale, and the same mask in backward`, () => {
        const p = 0.3,
          seed = 1234n;
        const xv = randn(n, 16);
        const x = m.f([n], xv),
          y = m.f([n]),
          dx = m.f([n]);
        m.eng.dropout(x, y, p, seed, offset);
        const xs = host(x),
          ys = host(y);
        let kept = 0;
        const want = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const k = dropoutKeep(seed, offset + BigInt(i), p);
          kept += k ? 1 : 0;
          want[i] = k ? xs[i]! / (1 - p) : 0;
        }
        if (n > 1000) expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.01);
        close(ys, want, v.tol, 'y');
        m.eng.dropoutBackward(x, dx, p, seed, offset);
        close(host(dx), want, v.tol, 'dx');
      });

    // C 40: a tail past 8 and 16 lanes; 24: 8-lane rows (AVX2) with a 16-lane tail; 48: whole 16-lane rows.
    for (const [N, C] of [
      [33, 40],
      [7, 24],
      [9, 48],
    ] as const)
      it(`layernorm ${N}x${C} forward, backward (dx overwritten, dw/db accumulated)`, () => {
        const eps = 1e-5;
        const x = m.f([N, C], randn(N * C, 17, 3)),
          w = m.f([C], randn(C, 18)),
          b = m.f([C], randn(C, 19));
        const y = m.f([N, C]),
          mean = m.f32([N]),
          rstd = m.f32([N]);
        m.eng.layernorm(x, w, b, y, mean, rstd, eps);
        const [xs, ws, bs] = [host(x), host(w), host(b)];
        const r = layernormRef(xs, ws, bs, N, C, eps);
        close(host(y), r.y, v.tol * 2, 'y');
        close(host(mean), r.mean, v.tol, 'mean');
        close(host(rstd), r.rstd, v.tol * 2, 'rstd');
        const g = randn(N * C, 20),
          dx = m.f([N, C]),
          dw0 = randn(C, 21),
          dw = m.f([C], dw0),
          db = m.f([C]);
        m.eng.layernormBackward(m.f([N, C], g), x, w, mean, rstd, dx, dw, db);
        const gs = host(m.f([N, C], g));
        close(
          host(dx),
          numericGrad(xs, (z) => layernormRef(z, ws, bs, N, C, eps).y, gs),
          fdTol,
          'dx',
        );
        const fdw = numericGrad(ws, (z) => layernormRef(xs, z, bs, N, C, eps).y, gs);
        close(
          host(dw),
          Array.from(fdw, (d, i) => d + dw0[i]!),
          fdTol,
          'dw',
        );
        close(
          host(db),
          numericGrad(bs, (z) => layernormRef(xs, ws, z, N, C, eps).y, gs),
          fdTol,
          'db',
        );
      });

    it('embedding lookup and scatter-add gradient', () => {
      const V = 11,
        C = 9,
        N = 40;
      const ids = randint(N, V, 22),
        tab = randn(V * C, 23);
      const tid = m.i32([N], ids),
        ttab = m.f([V, C], tab),
        y = m.f([N, C]);
      m.eng.embedding(tid, ttab, y);
      const ts = host(ttab);
      close(
        host(y),
        Array.from({ length: N * C }, (_, i) => ts[ids[Math.floor(i / C)]! * C + (i % C)]!),
        0,
        'y',
      );
      const g = randn(N * C, 24),
        dt = m.f([V, C]);
      m.eng.embeddingBackward(tid, m.f([N, C], g), dt);
      const gs = host(m.f([N, C], g));
      const want = new Float64Array(V * C);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) want[ids[n]! * C + c] += gs[n * C + c]!;
      close(host(dt), want, v.tol * 4, 'dtable');
    });

    it('concat and its backward (split)', () => {
      const N = 7,
        Ca = 5,
        Cb = 3;
      const a = randn(N * Ca, 25),
        b = randn(N * Cb, 26);
      const y = m.f([N, Ca + Cb]);
      m.eng.concat(m.f([N, Ca], a), m.f([N, Cb], b), y);
      const ys = host(y),
        ah = host(m.f([N, Ca], a)),
        bh = host(m.f([N, Cb], b));
      for (let n = 0; n < N; n++) {
        expect(Array.from(ys.subarray(n * 8, n * 8 + 5))).toEqual(Array.from(ah.subarray(n * 5, n * 5 + 5)));
        expect(Array.from(ys.subarray(n * 8 + 5, n * 8 + 8))).toEqual(Array.from(bh.subarray(n * 3, n * 3 + 3)));
      }
      const da = m.f([N, Ca]),
        db = m.f([N, Cb]);
      m.eng.concatBackward(y, da, db);
      expect(Array.from(host(da))).toEqual(Array.from(ah));
      expect(Array.from(host(db))).toEqual(Array.from(bh));
    });

    it('softmax cross-entropy (ignored rows) and its gradient', () => {
      const N = 9,
        C = 13;
      const x = randn(N * C, 27, 3),
        t = randint(N, C, 28);
      t[4] = -1;
      const tx = m.f([N, C], x),
        tt = m.i32([N], t),
        loss = m.f32([N]);
      m.eng.crossEntropy(tx, tt, loss);
      const xs = host(tx);
      close(host(loss), xentRef(xs, t, N, C), v.tol * 2, 'loss');
      const dl = randn(N, 29),
        dx = m.f([N, C]);
      m.eng.crossEntropyBackward(tx, tt, m.f32([N], dl), dx);
      close(
        host(dx),
        numericGrad(xs, (z) => xentRef(z, t, N, C), dl),
        fdTol,
        'dlogits',
      );
    });

    it('mse and its gradient', () => {
      const n = 300,
        a = randn(n, 30),
        b = randn(n, 31);
      const ta = m.f([n], a),
        tb = m.f([n], b),
        out = m.f32([1]),
        da = m.f([n]);
      m.eng.mse(ta, tb, out);
      const [as, bs] = [host(ta), host(tb)];
      const f = (z: ArrayLike<number>) => [Array.from(z, (x, i) => (x - bs[i]!) ** 2).reduce((s, q) => s + q, 0) / n];
      close(host(out), f(as), v.tol, 'loss');
      m.eng.mseBackward(ta, tb, 0.7, da);
      close(host(da), numericGrad(as, f, [0.7]), fdTol, 'da');
    });

    it('rowAxpy: y += a[n] x[n,:]', () => {
      const [N, C] = [9, 37],
        a = randn(N, 80),
        x = m.f([N, C], randn(N * C, 81)),
        y0 = randn(N * C, 82),
        y = m.f([N, C], y0);
      const want = Array.from(host(y), (yv, i) => yv + a[Math.floor(i / C)]! * host(x)[i]!);
      m.eng.rowAxpy(m.f32([N], a), x, y);
      close(host(y), want, v.tol, 'y');
    });

    it('gradPenalty: row norms and the gradient of λ/N Σ(‖g_n‖−1)² (finite differences; zero row; in place)', () => {
      const [N, C, lambda] = [7, 33, 10];
      const gs = randn(N * C, 83).map((z) => 0.3 * z);
      gs.fill(0, 2 * C, 3 * C); // a zero row: norm 0, gradient 0 (as torch's norm backward)
      const g = m.f([N, C], gs),
        u = m.f([N, C]),
        norms = m.f32([N]);
      m.eng.gradPenalty(g, lambda, u, norms);
      const hg = host(g);
      const rowNorm = (z: ArrayLike<number>, n: number) =>
        Math.sqrt(Array.from({ length: C }, (_, c) => z[n * C + c]! ** 2).reduce((s, q) => s + q, 0));
      close(
        host(norms),
        Array.from({ length: N }, (_, n) => rowNorm(hg, n)),
        v.tol,
        'norms',
      );
      const f = (z: ArrayLike<number>) => [
        (Array.from({ length: N }, (_, n) => (rowNorm(z, n) - 1) ** 2).reduce((s, q) => s + q, 0) * lambda) / N,
      ];
      const fd = numericGrad(hg, f, [1]);
      for (let c = 0; c < C; c++) fd[2 * C + c] = 0; // the norm is not differentiable at 0; torch (and we) take 0
      close(host(u), fd, fdTol, 'u');
      m.eng.gradPenalty(g, lambda, g, norms);
      close(host(g), host(u), 0, 'u in place');
    });

    it('l2Normalize: unit rows and norms; backward against finite differences; a zero row (clamped norm)', () => {
      const [N, C] = [6, 19];
      const xs = randn(N * C, 90);
      xs.fill(0, 3 * C, 4 * C);
      const x = m.f([N, C], xs),
        y = m.f([N, C]),
        norms = m.f32([N]);
      m.eng.l2Normalize(x, y, norms);
      const hx = host(x);
      const normalize = (z: ArrayLike<number>) => {
        const out = new Float64Array(N * C);
        for (let n = 0; n < N; n++) {
          let q = 0;
          for (let c = 0; c < C; c++) q += z[n * C + c]! ** 2;
          const k = Math.max(Math.sqrt(q), 1e-12);
          for (let c = 0; c < C; c++) out[n * C + c] = z[n * C + c]! / k;
        }
        return out;
      };
      close(host(y), normalize(hx), v.tol, 'y');
      const wantNorms = Array.from({ length: N }, (_, n) =>
        Math.max(1e-12, Math.sqrt(Array.from({ length: C }, (_, c) => hx[n * C + c]! ** 2).reduce((a, b) => a + b, 0))),
      );
      close(host(norms), wantNorms, v.tol, 'norms');
      expect(host(norms)[3]).toBeCloseTo(1e-12, 20);
      const gs = randn(N * C, 91),
        dy = m.f([N, C], gs),
        dx = m.f([N, C]);
      m.eng.l2NormalizeBackward(y, norms, dy, dx);
      const fd = numericGrad(hx, normalize, host(dy));
      const got = host(dx);
      const rows = (z: ArrayLike<number>) => Array.from(z).filter((_, i) => Math.floor(i / C) !== 3);
      close(rows(got), rows(fd), fdTol, 'dx');
      // The zero row's norm is the constant 1e-12: dx = dy / 1e-12 there, as torch's F.normalize.
      close(
        got.subarray(3 * C, 4 * C),
        Array.from(host(dy).subarray(3 * C, 4 * C), (g) => g / 1e-12),
        v.tol,
        'dx (zero row)',
      );
    });

    if (v.dt === 'f32')
      it("multiSimilarityLoss: SapBERT's loss on TripletMarginMiner pairs, per anchor; dsim against finite differences; the one-triplet gate", () => {
        const [M, C] = [12, 5];
        const lab = Int32Array.from({ length: M }, (_, i) => i % 4);
        // Unit vectors with no triplet within 1e-3 of the margin (the miner's masks are steps).
        let sims = new Float64Array(M * M);
        for (let seed = 95; ; seed++) {
          const e = randn(M * C, seed);
          for (let i = 0; i < M; i++) {
            const k = Math.hypot(...e.slice(i * C, (i + 1) * C));
            for (let c = 0; c < C; c++) e[i * C + c]! /= k;
          }
          for (let i = 0; i < M; i++)
            for (let j = 0; j < M; j++)
              sims[i * M + j] = Array.from({ length: C }, (_, c) => e[i * C + c]! * e[j * C + c]!).reduce((a, b) => a + b);
          const dist = (x: number) => Math.sqrt(Math.max(0, 2 - 2 * x));
          let near = false;
          for (let a = 0; a < M; a++)
            for (let p = 0; p < M; p++)
              for (let n = 0; n < M; n++)
                if (p !== a && lab[p] === lab[a] && lab[n] !== lab[a])
                  near ||= Math.abs(dist(sims[a * M + n]!) - dist(sims[a * M + p]!) - 0.2) < 1e-3;
          if (!near) break;
        }
        sims = Float64Array.from(Float32Array.from(sims));
        const settings = { alpha: 1, beta: 60, base: 0.5, margin: 0.2 };
        const sim = m.f32([M, M], Float32Array.from(sims)),
          labels = m.i32([M], lab),
          loss = m.f32([M]),
          dsim = m.f32([M, M]);
        m.eng.multiSimilarityLoss(sim, labels, loss, dsim, { scale: 1 / M });
        const r = msLossRef(sims, lab, M, settings);
        expect(r.triplets).toBeGreaterThan(1);
        expect(r.loss.some((x) => x > 0)).toBe(true);
        close(host(loss), r.loss, 1e-5, 'loss');
        close(
          host(dsim),
          Array.from(r.dsim, (g) => g / M),
          1e-5,
          'dsim',
        );
        const mean = (z: ArrayLike<number>) => [msLossRef(z, lab, M, settings).loss.reduce((a, b) => a + b, 0) / M];
        close(host(dsim), numericGrad(sims, mean, [1], 1e-5), 2e-3, 'dsim (finite differences)');
        // Other settings reach the kernel.
        m.eng.multiSimilarityLoss(sim, labels, loss, dsim, { alpha: 2, beta: 50, base: 0.4, margin: 0.5 });
        close(host(loss), msLossRef(sims, lab, M, { alpha: 2, beta: 50, base: 0.4, margin: 0.5 }).loss, 1e-5, 'loss (other settings)');
        // Exactly one triplet mined (anchors 0, 1 of a class, 2 of another): loss and dsim all 0.
        const one = Float32Array.from([1, 0.2, 0.3, 0.2, 1, -0.9, 0.3, -0.9, 1]);
        expect(msLossRef(one, [5, 5, 6], 3, settings).triplets).toBe(1);
        const s3 = m.f32([3, 3], one),
          l3 = m.f32([3]),
          d3 = m.f32([3, 3], new Float32Array(9).fill(7));
        m.eng.multiSimilarityLoss(s3, m.i32([3], Int32Array.from([5, 5, 6])), l3, d3);
        expect(Array.from(host(l3))).toEqual([0, 0, 0]);
        expect(Array.from(host(d3))).toEqual(new Array(9).fill(0));
        // Two triplets: not gated (anchor 1's negative moved inside the margin).
        const two = Float32Array.from([1, 0.2, 0.3, 0.2, 1, 0.25, 0.3, 0.25, 1]);
        expect(msLossRef(two, [5, 5, 6], 3, settings).triplets).toBe(2);
        m.eng.multiSimilarityLoss(m.f32([3, 3], two), m.i32([3], Int32Array.from([5, 5, 6])), l3, d3);
        close(host(l3), msLossRef(two, [5, 5, 6], 3, settings).loss, 1e-5, 'loss (two triplets)');
      });

    for (const p of [0, 0.25])
      it(`attention forward and backward (key mask, dropout ${p})`, () => {
        const [B, T, H, D] = [3, 7, 2, 8];
        const shape = { B, T, H, D, scale: 1 / Math.sqrt(D), p, seed: 99n, offset: 5n };
        const qkv = m.f([B, T, 3, H, D], randn(B * T * 3 * H * D, 32));
        const maskv = new Int32Array(B * T).fill(1);
        for (let j = 4; j < T; j++) maskv[T + j] = 0; // batch 1: last keys are padding
        for (let j = 0; j < T; j++) maskv[2 * T + j] = 0; // batch 2: no real key at all
        const mask = m.i32([B, T], maskv),
          out = m.f([B, T, H, D]),
          lse = m.f32([B, H, T]);
        const o = { dropout: p, seed: shape.seed, offset: shape.offset };
        m.eng.attention(qkv, mask, out, lse, o);
        const qs = host(qkv);
        const r = attentionRef(qs, maskv, shape);
        close(host(out), r.out, v.tol * 4, 'out');
        const l = host(lse);
        for (let i = 0; i < l.length; i++) if (!Number.isFinite(r.lse[i]!)) expect(l[i]).toBe(-Infinity);
        close(
          Array.from(l, (x) => (Number.isFinite(x) ? x : 0)),
          Array.from(r.lse, (x) => (Number.isFinite(x) ? x : 0)),
          v.tol * 4,
          'lse',
        );
        const g = randn(B * T * H * D, 33),
          dqkv = m.f([B, T, 3, H, D]);
        const dout = m.f([B, T, H, D], g);
        m.eng.attentionBackward(qkv, mask, out, dout, lse, dqkv, o);
        const fd = numericGrad(qs, (z) => attentionRef(z, maskv, shape).out, host(dout));
        close(host(dqkv), fd, fdTol * 2, 'dqkv');
      });

    it('attention backward: the key gradients of a (sequence, head) sum to zero', () => {
      // Softmax ignores a common shift of a row's scores, so every dS row sums to zero and
      // sum_j dK_j = scale sum_i Q_i sum_j dS_ij = 0: what is left is dK's own rounding. (D_i =
      // rowsum(dO * O) from a bf16 O broke this with one error per query row, shared by all its keys.)
      const [B, T, H, D] = [2, 48, 2, 16];
      // Values with a common offset (as a value bias gives): O is large, dK is not.
      const qkv = m.f(
        [B, T, 3, H, D],
        randn(B * T * 3 * H * D, 38).map((x, i) => 2 * x + (Math.floor(i / (H * D)) % 3 === 2 ? 32 : 0)),
      );
      const maskv = new Int32Array(B * T).fill(1).fill(0, B * T - 9);
      const mask = m.i32([B, T], maskv),
        out = m.f([B, T, H, D]),
        lse = m.f32([B, H, T]);
      const o = { dropout: 0.1, seed: 3n, offset: 0n };
      m.eng.attention(qkv, mask, out, lse, o);
      const dqkv = m.f([B, T, 3, H, D]);
      m.eng.attentionBackward(qkv, mask, out, m.f([B, T, H, D], randn(B * T * H * D, 39)), lse, dqkv, o);
      const g = host(dqkv),
        dk = (b: number, j: number, h: number, e: number) => g[(((b * T + j) * 3 + 1) * H + h) * D + e]!;
      let worst = 0;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++) {
          let scale = 0;
          for (let j = 0; j < T; j++) for (let e = 0; e < D; e++) scale = Math.max(scale, Math.abs(dk(b, j, h, e)));
          for (let e = 0; e < D; e++) {
            let s = 0;
            for (let j = 0; j < T; j++) s += dk(b, j, h, e);
            worst = Math.max(worst, Math.abs(s) / scale);
          }
        }
      // Bound: the T keys' own roundings at random signs, one bf16 ulp (2^-8) each times sqrt(T);
      // rowsum(dO * O) exceeds it in bf16 (README, Tests). f32 is held loosely (f32 arithmetic on
      // dp of the offset's size).
      expect(worst, `|sum_j dK_j| / max |dK| = ${worst.toExponential(2)}`).toBeLessThanOrEqual(
        Math.sqrt(T) * (v.dt === 'bf16' ? 2 ** -8 : 2 ** -21),
      );
    });

    it('attention without a mask', () => {
      const [B, T, H, D] = [2, 5, 3, 4];
      const qkv = m.f([B, T, 3, H, D], randn(B * T * 3 * H * D, 34)),
        out = m.f([B, T, H, D]),
        lse = m.f32([B, H, T]);
      m.eng.attention(qkv, null, out, lse, { scale: 0.3 });
      close(host(out), attentionRef(host(qkv), null, { B, T, H, D, scale: 0.3, p: 0, seed: 0n, offset: 0n }).out, v.tol * 4, 'out');
    });

    for (const biasCorrection of [true, false])
      it(`adamw (bias correction ${biasCorrection}, weight-decay mask, 3 steps)`, () => {
        if (v.dt !== 'f32') return; // optimiser state is f32 on every backend
        const n = 1000,
          lr = 1e-2,
          b1 = 0.9,
          b2 = 0.999,
          eps = 1e-6,
          wd = 0.01;
        const p0 = randn(n, 35),
          maskv = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
        const p = m.f32([n], p0),
          g = m.f32([n]),
          mm = m.f32([n]),
          vv = m.f32([n]),
          mask = m.f32([n], maskv);
        const P = Float64Array.from(p0),
          M = new Float64Array(n),
          Vv = new Float64Array(n);
        for (let step = 1; step <= 3; step++) {
          const gv = randn(n, 36 + step);
          g.upload(gv);
          m.eng.adamw(p, g, mm, vv, mask, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, step, biasCorrection });
          const ss = biasCorrection ? (lr * Math.sqrt(1 - b2 ** step)) / (1 - b1 ** step) : lr;
          for (let i = 0; i < n; i++) {
            M[i] = b1 * M[i]! + (1 - b1) * gv[i]!;
            Vv[i] = b2 * Vv[i]! + (1 - b2) * gv[i]! ** 2;
            P[i] = P[i]! - (ss * M[i]!) / (Math.sqrt(Vv[i]!) + eps);
            if (maskv[i]) P[i] = P[i]! - lr * wd * P[i]!;
          }
        }
        close(host(p), P, 1e-4, 'param');
        close(host(mm), M, 1e-4, 'm');
        close(host(vv), Vv, 1e-4, 'v');
      });

    it('sumsq accumulates the squared norm', () => {
      const n = 100003,
        x = randn(n, 40);
      const out = m.f32([1], new Float32Array([1.5])),
        tx = m.f([n], x);
      m.eng.sumsq(tx, out);
      const want = host(tx).reduce((s, q) => s + q * q, 1.5);
      close(host(out), [want], v.tol * 10, 'sumsq');
    });

    for (const [Q, P, D, k, block] of [
      [5, 40, 8, 1, 0],
      [17, 300, 16, 10, 64],
      [3, 2000, 32, 64, 100],
      [4, 50, 4, 50, 0],
    ] as const)
      it(`topk Q=${Q} P=${P} D=${D} k=${k} block=${block}`, async () => {
        const q = m.f([Q, D], randn(Q * D, 41)),
          pool = m.f([P, D], randn(P * D, 42));
        const s = m.f32([Q, k]),
          ix = m.i32([Q, k]);
        m.eng.topk(q, pool, k, s, ix, { block });
        const qs = host(q),
          ps = host(pool),
          ss = host(s),
          is = hostInt(ix);
        for (let i = 0; i < Q; i++) {
          const all = Array.from({ length: P }, (_, j) => {
            let d = 0;
            for (let e = 0; e < D; e++) d += qs[i * D + e]! * ps[j * D + e]!;
            return d;
          });
          const want = all
            .map((x, j) => [x, j] as const)
            .sort((a, b) => b[0] - a[0] || a[1] - b[1])
            .slice(0, k);
          // Scores must match; indices may differ only between near-equal scores.
          close(
            ss.subarray(i * k, (i + 1) * k),
            want.map((w) => w[0]),
            v.tol * 4,
            `scores[${i}]`,
          );
          for (let r = 0; r < k; r++) {
            const j = is[i * k + r]!;
            expect(Math.abs(all[j]! - want[r]![0])).toBeLessThanOrEqual(v.tol * 4 * Math.max(1, Math.abs(want[r]![0])));
          }
          expect(new Set(is.subarray(i * k, (i + 1) * k)).size).toBe(k);
        }
        const s2 = m.f32([Q, k]),
          ix2 = m.i32([Q, k]);
        await m.eng.topkAsync(q, pool, k, s2, ix2, { block });
        expect(Array.from(hostInt(ix2))).toEqual(Array.from(is));
      });

    it('topk breaks ties by the lower index', () => {
      const D = 4,
        P = 30;
      const pool = new Float32Array(P * D);
      for (let j = 0; j < P; j++) pool[j * D] = j % 3 === 0 ? 1 : 0.5; // rows 0,3,6,.. tie at the top
      const s = m.f32([1, 5]),
        ix = m.i32([1, 5]);
      m.eng.topk(m.f([1, D], new Float32Array([1, 0, 0, 0])), m.f([P, D], pool), 5, s, ix, { block: 7 });
      expect(Array.from(hostInt(ix))).toEqual([0, 3, 6, 9, 12]);
    });
  });
}

// The fast CPU backend takes bf16 for its inference ops where the CPU has AVX512_BF16 (issue 17;
// those kernels: test/ops-bf16-cpu.test.ts); its backward ops refuse bf16 everywhere.
const cpuBf16 = engine('cpu').floats('gemm').includes('bf16');

describe('bf16 on the host: ref emulates it, cpu refuses it (inference ops: unless the CPU has AVX512_BF16)', () => {
  it('cpu ops refuse bf16 tensors with the reason; ref takes them', () => {
    const x = tensor('cpu', 'bf16', [4], new Float32Array([1, 2, 3, 4])),
      y = tensor('cpu', 'bf16', [4]);
    if (!cpuBf16) {
      expect(() => engine('cpu').fill(y, 1)).toThrow(/bf16 tensors are not computed on backend 'cpu'/);
      expect(() => engine('cpu').relu(x, y)).toThrow(/must be f32 on backend 'cpu'/);
    }
    expect(() => engine('cpu').reluBackward(x, x, y)).toThrow(/must be f32 on backend 'cpu'/);
    engine('ref').relu(x, y);
    expect(Array.from(host(y))).toEqual([1, 2, 3, 4]);
    expect(() => engine('ref').add(x, tensor('cpu', 'f32', [4]), y)).toThrow(/share a dtype/);
  });
});

describe('cross-backend: cpu equals ref on a BERT-sized GEMM', () => {
  it('768x3072x256', () => {
    const m = new Maker({ be: 'cpu', dt: 'f32', tol: 0 });
    const [M, N, K] = [256, 3072, 768];
    const a = m.f([M, K], randn(M * K, 50)),
      b = m.f([K, N], randn(K * N, 51));
    const c1 = m.f([M, N]),
      c2 = m.f([M, N]);
    engine('cpu').gemm(a, b, c1);
    engine('ref').gemm(a, b, c2);
    close(host(c1), host(c2), 1e-5, 'C');
    m.dispose();
  });
});

describe('the op list, the engines and their capabilities', () => {
  it('src/engine-ops.ts is generated from the op list in native/ops.h (node native/gen-engine-ops.mjs)', () => {
    const r = spawnSync(process.execPath, ['native/gen-engine-ops.mjs', '--check'], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('every backend is a method per op of the list, and reports the capabilities info() lists', () => {
    const backends = engineInfo().backends;
    expect(Object.keys(backends)).toEqual(expect.arrayContaining(['ref', 'cpu']));
    for (const [name, b] of Object.entries(backends)) {
      const e = engine(name as 'ref' | 'cpu' | 'cuda');
      expect(e.name).toBe(name);
      expect(e.device).toBe(b!.device);
      expect(e.caps).toEqual(b!.caps);
      for (const op of OP_NAMES) expect(typeof e[op], `${name}.${op}`).toBe('function');
    }
    // What each backend declares (ops.h Caps): the fast CPU backend computes f32 and searches a
    // bf16 pool with f32 queries; ref emulates bf16 everywhere.
    expect(engine('cpu').floats('relu')).toEqual(cpuBf16 ? ['f32', 'bf16'] : ['f32']);
    expect(engine('cpu').floats('reluBackward')).toEqual(['f32']);
    expect(engine('cpu').floats('topk')).toEqual(['f32', 'bf16']);
    expect(engine('cpu').caps.topkF32Queries).toBe(true);
    expect(engine('ref').floats('relu')).toEqual(['f32', 'bf16']);
  });

  it('one engine per backend; auto, engineFor and pickDevice ask the addon for the mapping', () => {
    expect(engine('cpu')).toBe(engine('cpu'));
    const auto = engine('auto');
    expect(auto.name).toBe(hasCuda ? 'cuda' : 'cpu');
    expect(pickDevice('auto')).toBe(auto.device);
    const t = tensor('cpu', 'f32', [2]);
    expect(engineFor(t)).toBe(engine('cpu'));
    expect(engineFor('cpu')).toBe(engine('cpu'));
    t.dispose();
    expect(() => engineFor(t)).toThrow(/disposed/);
    expect(() => engine('gpu' as 'cpu')).toThrow(/unknown backend 'gpu'/);
  });
});

describe.skipIf(!hasCuda)('cuda engine: devices and index checks', () => {
  it('cuda: an op given a tensor of another device names both devices', () => {
    const x = tensor('cpu', 'f32', [2]),
      y = engine('cuda').tensor('f32', [2]);
    expect(() => engine('cuda').relu(x, y)).toThrow(/relu: 'x' is on cpu but backend 'cuda' runs on cuda/);
    expect(() => engine('cpu').relu(y, x)).toThrow(/relu: 'x' is on cuda but backend 'cpu' runs on cpu/);
  });

  it('cuda: ids and targets out of range are found by the kernels and reported at the next synchronisation', () => {
    const E = engine('cuda');
    const ids = E.tensor('i32', [3], new Int32Array([0, 7, 1])),
      table = E.tensor('f32', [4, 2], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])),
      y = E.tensor('f32', [3, 2]);
    E.embedding(ids, table, y); // no copy of the ids to the host here
    expect(() => y.download()).toThrow(/embedding: ids\[1\] = 7 is outside \[0, 4\)/);
    expect(Array.from(y.download())).toEqual([1, 2, 0, 0, 3, 4]); // reported once; the bad row reads zeros
    const logits = E.tensor('f32', [2, 3]),
      tg = E.tensor('i32', [2], new Int32Array([1, 3])),
      loss = E.tensor('f32', [2]);
    E.crossEntropy(logits, tg, loss);
    expect(() => E.synchronize()).toThrow(/crossEntropy: targets\[1\] = 3 is not below the class count 3/);
    E.synchronize();
  });
});

// Unused-import guard for variants without CUDA.
// biome-ignore lint/suspicious/noExportsInTest: a type export only, so the import counts as used.
export type { Variant };
