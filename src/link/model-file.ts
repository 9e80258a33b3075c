// A biofeg bi-encoder checkpoint read for linking only: the context encoder's weights go from
// model.safetensors into the model tensor by tensor (no state_dict in memory, no flat copy), and
// the candidate side is never loaded: its hash (candidateHash's recipe, the same digest) is taken
// over the file's bytes on another thread while the context weights and the index load. Linking
// never runs the candidate encoder; the hash is what refuses an index built with other weights, so
// it still covers every candidate weight, bit for bit (a cheaper fingerprint, or one recorded at
// save time, would accept weights changed since).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { FileSource } from '../checkpoint/bytes.js';
import { BERT_BUFFERS } from '../checkpoint/hf-names.js';
import { readSafetensorsHeader, type SafetensorsEntry } from '../checkpoint/safetensors.js';
import { CheckpointError } from '../checkpoint/types.js';
import type { BlinkEncoder, ParamPart } from '../models/biencoder.js';

/** Floats per read of the context weights (1 MiB): a chunk stays in L2 from its read to its copy. */
const CHUNK_FLOATS = 1 << 18;

/** What the hashing thread feeds sha256: the leading JSON, then per part its prefix and byte segments. */
export interface HashPlan {
  file: string;
  prefixJson: string;
  /** Per candidate part: its prefix, then [file position, bytes] segments in flat order (position -1: zeros). */
  parts: Array<{ prefix: string; segments: Array<[number, number]> }>;
}

/** What is read of a part here (not its gradients: reading that getter would allocate them). */
type Part = Pick<ParamPart, 'prefix' | 'layout' | 'params'>;

/** Where each parameter of a part lies in the file; undefined when one is missing or not an F32 of its shape. */
function locate(part: Part, byName: Map<string, SafetensorsEntry>): SafetensorsEntry[] | undefined {
  const out: SafetensorsEntry[] = [];
  for (const e of part.layout) {
    const name = part.prefix + e.name;
    const t =
      byName.get(name) ?? byName.get(name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'));
    if (t?.dtype !== 'F32' || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) return undefined;
    out.push(t);
  }
  return out;
}

/**
 * Loads the bi-encoder's context encoder `encoder` from `dir/model.safetensors` and returns the
 * plan of the candidate side's hash (`prefixJson`: candidateHash's leading JSON; the candidate
 * encoder has the context's layout under its own names). Returns undefined, having read nothing
 * into the encoder, when the file is not exactly a state_dict of such a bi-encoder (absent, a
 * tensor missing, another shape or dtype, extra tensors): the caller then takes the general path,
 * whose errors name what is wrong. `chunkFloats`: values per read (tests make it small).
 * `onPlan`: called with the plan before any weight is read (to start hashing alongside the reads).
 */
export function loadContext(
  dir: string,
  encoder: BlinkEncoder,
  prefixJson: string,
  chunkFloats = CHUNK_FLOATS,
  onPlan?: (plan: HashPlan) => void,
): HashPlan | undefined {
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) return undefined;
  const src = new FileSource(file);
  try {
    const h = readSafetensorsHeader(src);
    const byName = new Map(h.entries.map((e) => [e.name, e]));
    const parts: Part[] = encoder.parts().map(({ prefix, layout, params }) => ({ prefix, layout, params }));
    const ctx = parts.map((p) => ({ p, at: locate(p, byName) }));
    const cand = parts.map(({ prefix, layout, params }) => {
      const p = { prefix: prefix.replace(/^context_encoder\./, 'cand_encoder.'), layout, params };
      return { p, at: locate(p, byName) };
    });
    if ([...ctx, ...cand].some((x) => x.at === undefined)) return undefined;
    const used = new Set([...ctx, ...cand].flatMap((x) => x.at!.map((e) => e.name)));
    if (h.entries.some((e) => !used.has(e.name) && !BERT_BUFFERS.some((b) => e.name.endsWith(`.${b}`)))) return undefined;
    // candidateHash feeds each part's flat f32 parameters as loadStateDict lays them out (zeros
    // where no parameter lies): here the same bytes, as file segments.
    const plan: HashPlan = { file, prefixJson, parts: [] };
    for (const { p, at } of cand) {
      const order = p.layout.map((e, i) => ({ off: e.offset * 4, t: at![i]! })).sort((a, b) => a.off - b.off);
      const segments: Array<[number, number]> = [];
      let pos = 0;
      for (const { off, t } of order) {
        if (off < pos) return undefined; // overlapping layout: not a plain flat buffer
        if (off > pos) segments.push([-1, off - pos]);
        segments.push([h.dataStart + t.begin, t.end - t.begin]);
        pos = off + (t.end - t.begin);
      }
      if (p.params.shape[0]! * 4 > pos) segments.push([-1, p.params.shape[0]! * 4 - pos]);
      plan.parts.push({ prefix: p.prefix, segments });
    }
    onPlan?.(plan);
    // Context weights: through views of the flat parameters, 1 MiB at a time (host working
    // memory bounded whatever the vocabulary), each chunk checked finite on its way.
    const chunk = new Float32Array(chunkFloats);
    for (const { p, at } of ctx) {
      p.layout.forEach((e, i) => {
        const t = at![i]!;
        const n = (t.end - t.begin) / 4;
        for (let done = 0; done < n; done += chunk.length) {
          const vals = chunk.subarray(0, Math.min(chunk.length, n - done));
          src.readInto(
            h.dataStart + t.begin + done * 4,
            new Uint8Array(vals.buffer, 0, vals.byteLength),
            `tensor ${JSON.stringify(t.name)}`,
          );
          requireFiniteAt(file, t.name, vals, done);
          const v = p.params.view(e.offset + done, [vals.length]);
          try {
            v.upload(vals);
          } finally {
            v.dispose();
          }
        }
      });
    }
    return plan;
  } finally {
    src.close();
  }
}

/** checkpoint/types.ts requireFinite for a chunk starting at element `base` of its tensor. */
function requireFiniteAt(file: string, name: string, vals: Float32Array, base: number): void {
  // x * 0 is NaN for NaN and ±Infinity, else ±0: one multiply-add a value and no call, over every
  // weight of a model; the slow scan runs only to name the first bad value.
  let s = 0;
  for (let i = 0; i < vals.length; i++) s += vals[i]! * 0;
  if (s === 0) return;
  for (let i = 0; i < vals.length; i++)
    if (!Number.isFinite(vals[i]!))
      throw new CheckpointError(
        file,
        `${name} holds ${vals[i]} at element ${base + i}: refusing non-finite weights (a diverged or damaged checkpoint)`,
      );
}

// The hashing thread: plain JavaScript (no TypeScript loader to boot), 1 MiB reads (each hashed
// while still in L2). Modules come through import(), which eval code has whether it runs as a
// script or as a module.
const HASH_THREAD = `
Promise.all([import('node:worker_threads'), import('node:crypto'), import('node:fs')]).then(([wt, crypto, fs]) => {
  const p = wt.workerData;
  const buf = Buffer.alloc(1 << 20);
  const h = crypto.createHash('sha256');
  h.update(p.prefixJson);
  const fd = fs.openSync(p.file, 'r');
  try {
    for (const part of p.parts) {
      h.update(part.prefix);
      for (const [at, n] of part.segments) {
        if (at < 0) buf.fill(0);
        for (let done = 0; done < n; ) {
          const m = Math.min(buf.length, n - done);
          for (let got = 0; at >= 0 && got < m; ) {
            const r = fs.readSync(fd, buf, got, m - got, at + done + got);
            if (r === 0) throw new Error(p.file + ': ended early');
            got += r;
          }
          h.update(buf.subarray(0, m));
          done += m;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  wt.parentPort.postMessage(h.digest('hex'));
});
`;

/** A hash being computed on its own thread. */
export interface HashThread {
  digest: Promise<string>;
  /** Ends the thread (its digest then rejects, handled here): for a load that failed meanwhile. */
  stop(): void;
}

/** sha256 of a plan (candidateHash's digest) on its own thread. */
export function hashInThread(plan: HashPlan): HashThread {
  // No execArgv: the parent's (a TypeScript loader, --input-type) would only slow its start.
  const w = new Worker(HASH_THREAD, { eval: true, workerData: plan, execArgv: [] });
  const digest = new Promise<string>((resolve, reject) => {
    w.once('message', (hex: string) => resolve(hex));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`the model hash thread exited (code ${code})`)));
  });
  return {
    digest,
    stop() {
      digest.catch(() => undefined);
      void w.terminate();
    },
  };
}
