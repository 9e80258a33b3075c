// The scenario of test/addon-workers.test.ts, run in a child process so that a crash of the
// process (an abort or a segfault in the addon) fails the test instead of killing the runner.
//
// The main thread and worker_threads Workers load the addon at the same time and run real ops
// (gemm, layernorm, attention on the 'cpu' and 'ref' backends) concurrently, each checking its
// results against a JS reference computed in that thread. Two workers finish; one is terminated
// mid-work while it holds live tensors (their memory is freed by finalizers during teardown);
// then the main thread keeps working. Prints `SCENARIO OK {...}` and exits 0 when all is well.
//
//   node --expose-gc test/addon-workers-scenario.mjs [iterations] [backends, default cpu,ref]
// BIOFEG_ADDON overrides the addon (default: build/Release/biofeg.node). With 'cuda' among the
// backends, the threads launch CUDA kernels concurrently too (a GPU, or the cuemu build).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const addonPath = process.env.BIOFEG_ADDON
  ? resolve(process.env.BIOFEG_ADDON)
  : fileURLToPath(new URL('../build/Release/biofeg.node', import.meta.url));
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
const backends = (isMainThread ? process.argv[3] ?? 'cpu,ref' : workerData.backends).split(',');

function rng(seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296 - 0.5;
  };
}

function relErr(got, want) {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

// One thread's workload. `keep` holds tensors that stay alive (and are never disposed).
class Work {
  constructor(addon, seed, tag) {
    this.a = addon;
    this.r = rng(seed);
    this.tag = tag;
    this.keep = [];
    this.ops = 0;
    this.pending = [];  // topkAsync promises, checked when they settle
  }
  rand(n) {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = this.r();
    return x;
  }
  t(shape, data, dtype = 'f32', be = 'cpu') {
    const x = new this.a.Tensor(be === 'cuda' ? 'cuda' : 'cpu', dtype, shape);
    if (!(x instanceof this.a.Tensor)) throw new Error(`${this.tag}: a new Tensor is not a Tensor of this thread`);
    if (data) x.upload(data);
    return x;
  }
  check(got, want, tol, what) {
    const e = relErr(got, want);
    if (!(e <= tol)) throw new Error(`${this.tag}: ${what}: relative error ${e} > ${tol}`);
    this.ops++;
  }
  // Disposes about half of the tensors now; the rest are left to the garbage collector (or kept).
  drop(ts, i) {
    for (const [j, x] of ts.entries()) {
      if ((i + j) % 2 === 0) x.dispose();
      else if ((i + j) % 7 === 0) this.keep.push(x);
    }
    if (this.keep.length > 64) this.keep.splice(0, 32);
  }

  gemm(be, i) {
    const M = 20 + (i % 7) * 9, N = 16 + (i % 5) * 13, K = 24 + (i % 3) * 40, tb = i % 2 === 1;
    const A = this.rand(M * K), B = this.rand(K * N), C = this.rand(M * N);
    const tA = this.t([M, K], A, 'f32', be), tB = this.t(tb ? [N, K] : [K, N], tb ? transpose(B, K, N) : B, 'f32', be);
    const tC = this.t([M, N], C, 'f32', be);
    this.a.backend(be).gemm(tA, tB, tC, { transB: tb, alpha: 0.75, beta: 0.5 });
    const want = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[m * K + k] * B[k * N + n];
        want[m * N + n] = 0.75 * s + 0.5 * C[m * N + n];
      }
    this.check(tC.download(), want, tol(be), `gemm ${be} ${M}x${N}x${K}`);
    // A view shares the storage (and keeps it alive past the parent's dispose).
    const v = tC.view(N, [M - 1, N]);
    this.drop([tA, tB, tC], i);
    this.check(v.download(), want.subarray(N), tol(be), `gemm ${be} view`);
    if (i % 3 === 0) v.dispose();
  }

  layernorm(be, i) {
    const Nr = 5 + (i % 9), C = 8 * (2 + (i % 6)) + (i % 2);  // C % 8 != 0 takes the scalar path
    const x = this.rand(Nr * C), w = this.rand(C), b = this.rand(C);
    const tx = this.t([Nr, C], x, 'f32', be), tw = this.t([C], w, 'f32', be), tb = this.t([C], b, 'f32', be);
    const ty = this.t([Nr, C], null, 'f32', be), tm = this.t([Nr], null, 'f32', be), tr = this.t([Nr], null, 'f32', be);
    this.a.backend(be).layernorm(tx, tw, tb, ty, tm, tr, 1e-5);
    const y = new Float64Array(Nr * C), mean = new Float64Array(Nr), rstd = new Float64Array(Nr);
    for (let n = 0; n < Nr; n++) {
      let s = 0, q = 0;
      for (let c = 0; c < C; c++) s += x[n * C + c];
      const mu = s / C;
      for (let c = 0; c < C; c++) q += (x[n * C + c] - mu) ** 2;
      const rs = 1 / Math.sqrt(q / C + 1e-5);
      mean[n] = mu;
      rstd[n] = rs;
      for (let c = 0; c < C; c++) y[n * C + c] = (x[n * C + c] - mu) * rs * w[c] + b[c];
    }
    this.check(ty.download(), y, tol(be), `layernorm ${be} y`);
    this.check(tm.download(), mean, tol(be), `layernorm ${be} mean`);
    this.check(tr.download(), rstd, tol(be), `layernorm ${be} rstd`);
    this.drop([tx, tw, tb, ty, tm, tr], i);
  }

  attention(be, i) {
    const B = 1 + (i % 2), T = 6 + (i % 8), H = 2, D = 8, row = 3 * H * D;
    const qkv = this.rand(B * T * row);
    const mask = new Int32Array(B * T).map((_, k) => ((k % T) === T - 1 && i % 2 ? 0 : 1));
    const tq = this.t([B, T, 3, H, D], qkv, 'f32', be), tmask = this.t([B, T], mask, 'i32', be);
    const to = this.t([B, T, H, D], null, 'f32', be), tl = this.t([B, H, T], null, 'f32', be);
    this.a.backend(be).attention(tq, tmask, to, tl);
    const scale = 1 / Math.sqrt(D), out = new Float64Array(B * T * H * D), lse = new Float64Array(B * H * T);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let q = 0; q < T; q++) {
          const s = new Float64Array(T).fill(-Infinity);
          let mx = -Infinity;
          for (let k = 0; k < T; k++) {
            if (!mask[b * T + k]) continue;
            let d = 0;
            for (let e = 0; e < D; e++) d += qkv[(b * T + q) * row + h * D + e] * qkv[(b * T + k) * row + H * D + h * D + e];
            s[k] = d * scale;
            mx = Math.max(mx, s[k]);
          }
          let z = 0;
          for (let k = 0; k < T; k++) if (s[k] > -Infinity) z += Math.exp(s[k] - mx);
          const l = mx + Math.log(z);
          lse[(b * H + h) * T + q] = l;
          for (let k = 0; k < T; k++) {
            if (s[k] === -Infinity) continue;
            const p = Math.exp(s[k] - l);
            for (let e = 0; e < D; e++) out[((b * T + q) * H + h) * D + e] += p * qkv[(b * T + k) * row + 2 * H * D + h * D + e];
          }
        }
    this.check(to.download(), out, tol(be), `attention ${be} out`);
    this.check(tl.download(), lse, tol(be), `attention ${be} lse`);
    this.drop([tq, tmask, to, tl], i);
  }

  // Tensors made by the addon itself (BertModel.parameters wraps native storage in a Tensor).
  bert(be, i) {
    const m = new this.a.BertModel({ vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32, maxPositions: 16 }, be);
    const p = m.parameters();
    if (!(p instanceof this.a.Tensor) || p.shape[0] !== m.numParameters) throw new Error(`${this.tag}: BertModel.parameters()`);
    const copy = this.t([m.numParameters], null, 'f32', be);
    copy.copyFrom(p);
    this.check(copy.download(), p.download(), 0, 'BertModel parameters copy');
    if (i % 2) copy.dispose();
  }

  // topkAsync runs on libuv's thread pool (native threads calling the shared pool too); the
  // result is checked when the promise settles. A worker that is terminated leaves some in flight.
  topk(be, i) {
    const Q = 2 + (i % 4), P = 40 + (i % 5) * 17, D = 16, k = 5;
    const q = this.rand(Q * D), pool = this.rand(P * D);
    const tq = this.t([Q, D], q, 'f32', be), tp = this.t([P, D], pool, 'f32', be);
    const ts = this.t([Q, k], null, 'f32', be), ti = this.t([Q, k], null, 'i32', be);
    const dot = (r, j) => {
      let s = 0;
      for (let e = 0; e < D; e++) s += q[r * D + e] * pool[j * D + e];
      return s;
    };
    const want = new Float64Array(Q * k);
    for (let r = 0; r < Q; r++) {
      const all = Array.from({ length: P }, (_, j) => dot(r, j)).sort((a, b) => b - a);
      for (let j = 0; j < k; j++) want[r * k + j] = all[j];
    }
    this.pending.push(this.a.backend(be).topkAsync(tq, tp, k, ts, ti).then(() => {
      const got = ts.download(), idx = ti.download(), byIndex = new Float64Array(Q * k);
      for (let r = 0; r < Q; r++) for (let j = 0; j < k; j++) byIndex[r * k + j] = dot(r, idx[r * k + j]);
      this.check(got, want, tol(be), `topkAsync ${be} scores`);
      this.check(byIndex, want, tol(be), `topkAsync ${be} indices`);  // ties may swap indices, not scores
      this.drop([tq, tp, ts, ti], i);
    }));
  }
  async settle() {
    const p = this.pending;
    this.pending = [];
    await Promise.all(p);
  }

  step(i) {
    const be = backends[i % backends.length];
    switch (i % 8) {
      case 0: case 3: return this.gemm(be, i);
      case 1: case 4: return this.layernorm(be, i);
      case 2: case 5: return this.attention(be, i);
      case 6: return this.topk(be, i);
      default: return this.bert(be, i);
    }
  }
}

function transpose(x, R, C) {
  const y = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[c * R + r] = x[r * C + c];
  return y;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tol = (be) => (be === 'cuda' ? 1e-4 : 1e-5);

if (!isMainThread) {
  const { seed, iters, role } = workerData;
  const addon = createRequire(import.meta.url)(addonPath);
  const w = new Work(addon, seed, `worker ${seed}`);
  if (role === 'threads') addon.setThreads(0);  // resizes the shared pool while others compute
  for (let i = 0; role === 'endless' || i < iters; i++) {
    w.step(i);
    if (i === 5) parentPort.postMessage({ started: true });
    if (i % 50 === 49) gc();
  }
  await w.settle();
  parentPort.postMessage({ done: true, ops: w.ops, info: addon.info() });
} else {
  const iters = Number(process.argv[2] ?? 300);
  const start = (seed, role) => {
    const wk = new Worker(new URL(import.meta.url), { workerData: { seed, iters, role, backends: backends.join(',') } });
    const st = { wk, started: false, done: null, error: null, exit: null };
    wk.on('message', (m) => {
      if (m.started) st.started = true;
      if (m.done) st.done = m;
    });
    wk.on('error', (e) => { st.error = e; });
    st.exited = new Promise((r) => wk.on('exit', (code) => { st.exit = code; r(code); }));
    return st;
  };
  // Workers first, so that their loads of the addon overlap the main thread's.
  const w1 = start(11, 'plain'), w2 = start(12, 'threads'), w3 = start(13, 'endless');
  const addon = createRequire(import.meta.url)(addonPath);
  const main = new Work(addon, 1, 'main');
  let terminated = false;
  for (let i = 0; i < iters; i++) {
    main.step(i);
    if (i % 5 === 4) await new Promise((r) => setImmediate(r));  // let worker messages (and topk results) in
    if (!terminated && w3.started && i >= 40) {
      await w3.wk.terminate();  // mid-work: it holds live tensors and is inside an op loop
      terminated = true;
    }
  }
  // Still inside its endless op loop (it never finishes by itself), whenever this happens.
  for (let t = 0; !w3.started && !w3.error && w3.exit === null && t < 1200; t++) await sleep(50);
  if (!terminated && w3.started) await w3.wk.terminate();
  await Promise.all([w1.exited, w2.exited, w3.exited]);
  for (const [name, w] of [['worker 11', w1], ['worker 12', w2]]) {
    if (w.error) throw new Error(`${name} failed: ${w.error.stack ?? w.error}`);
    if (w.exit !== 0 || !w.done) throw new Error(`${name} exited with ${w.exit} without finishing`);
  }
  if (w3.error) throw new Error(`worker 13 failed before it was terminated: ${w3.error.stack ?? w3.error}`);
  if (!w3.started || w3.done || w3.exit !== 1) throw new Error(`worker 13 was not terminated mid-work (exit ${w3.exit})`);
  // The main thread keeps working after the workers are gone.
  await main.settle();
  gc();
  for (let i = 0; i < Math.ceil(iters / 2); i++) {
    main.step(i + iters);
    if (i % 50 === 49) gc();
  }
  await main.settle();
  main.keep.length = 0;
  gc();
  const profile = typeof addon.profileEnabled === 'function' && addon.profileEnabled() ? addon.profile() : null;
  const summary = {
    main: main.ops, workers: [w1.done.ops, w2.done.ops], terminatedDuringMainLoop: terminated,
    threads: addon.info().threads, napiVersion: addon.info().napiVersion, backends,
    profileOps: profile ? profile.reduce((s, r) => s + r.calls, 0) : null,
  };
  console.log(`SCENARIO OK ${JSON.stringify(summary)}`);
}
