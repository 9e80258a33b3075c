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
import { requireFinite } from '../checkpoint/types.js';
import type { BiEncoder, ParamPart } from '../models/biencoder.js';

/** What the hashing thread feeds sha256: the leading JSON, then per part its prefix and byte segments. */
export interface HashPlan {
  file: string;
  prefixJson: string;
  /** Per candidate part: its prefix, then [file position, bytes] segments in flat order (position -1: zeros). */
  parts: Array<{ prefix: string; segments: Array<[number, number]> }>;
}

/** Where each parameter of a part lies in the file; undefined when one is missing or not an F32 of its shape. */
function locate(part: ParamPart, byName: Map<string, SafetensorsEntry>): SafetensorsEntry[] | undefined {
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
 * Loads `model`'s context encoder from `dir/model.safetensors` and returns the plan of the
 * candidate side's hash (`prefixJson`: candidateHash's leading JSON). Returns undefined, having
 * read nothing into the model, when the file is not exactly the model's state_dict (absent, a
 * tensor missing, another shape or dtype, extra tensors): the caller then takes the general path,
 * whose errors name what is wrong.
 */
export function loadContext(dir: string, model: BiEncoder, prefixJson: string): HashPlan | undefined {
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) return undefined;
  const src = new FileSource(file);
  try {
    const h = readSafetensorsHeader(src);
    const byName = new Map(h.entries.map((e) => [e.name, e]));
    const ctx = model.context.parts().map((p) => ({ p, at: locate(p, byName) }));
    const cand = model.candidate.parts().map((p) => ({ p, at: locate(p, byName) }));
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
    // Context weights: one tensor at a time through a view of the flat parameters, read into one
    // scratch buffer the size of the largest (fresh host memory per tensor costs its page faults).
    const scratch = new Float32Array(Math.max(...ctx.flatMap(({ at }) => at!.map((t) => (t.end - t.begin) / 4)), 1));
    for (const { p, at } of ctx) {
      p.layout.forEach((e, i) => {
        const t = at![i]!;
        const vals = scratch.subarray(0, (t.end - t.begin) / 4);
        src.readInto(h.dataStart + t.begin, new Uint8Array(vals.buffer, 0, vals.byteLength), `tensor ${JSON.stringify(t.name)}`);
        requireFinite(file, t.name, vals);
        const v = p.params.view(e.offset, [vals.length]);
        try {
          v.upload(vals);
        } finally {
          v.dispose();
        }
      });
    }
    return plan;
  } finally {
    src.close();
  }
}

// The hashing thread: plain JavaScript (no TypeScript loader to boot), 16 MiB reads. Modules come
// through import(), which eval code has whether it runs as a script or, under a parent started
// with --input-type=module, as a module.
const HASH_THREAD = `
Promise.all([import('node:worker_threads'), import('node:crypto'), import('node:fs')]).then(([wt, crypto, fs]) => {
  const p = wt.workerData;
  const buf = Buffer.alloc(16 << 20);
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

/** sha256 of a plan (candidateHash's digest) on its own thread. */
export function hashInThread(plan: HashPlan): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HASH_THREAD, { eval: true, workerData: plan });
    w.once('message', (hex: string) => resolve(hex));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`the model hash thread exited (code ${code})`)));
  });
}
