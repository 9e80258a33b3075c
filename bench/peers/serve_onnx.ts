// onnxruntime-node peer of bench:serve (issue 18, point 6): the linking core as a Node developer
// would write it without biofeg, behind the same HTTP layer (createServer, so the comparison is of
// what answers a request, not of two web frameworks). The same bi-encoder weights exported by
// bench/peers/export_biencoder_onnx.py, run by onnxruntime-node (CPU execution provider, f32,
// graph optimization 'all', intraOpNumThreads = --threads); @huggingface/tokenizers with the
// exported tokenizer.json; BLINK's mention window built over the whole left/right context; one
// session.run per request (no coalescing across requests); a brute-force top-k in JS over the
// entity vectors, which the candidate side encodes at start-up.
//   node --import tsx bench/peers/serve_onnx.ts --onnx DIR --kb FILE [--max-context-length 32
//     --max-cand-length 48 --threads N --port 0]
// Prints `listening on URL` on stderr like biofeg serve; SIGTERM drains and exits 0.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';

import type { LinkCandidate, LinkerInfo, LinkerStats, LinkMention } from '../../src/link/types.js';
import { createServer, type LinkService } from '../../src/serve/index.js';
import { flagValue } from '../common.js';

const dir = flagValue('onnx', '');
const kb = flagValue('kb', '');
if (!dir || !kb) throw new Error('--onnx DIR (export_biencoder_onnx.py output) and --kb FILE (arboEL documents) are required');
const maxCtx = Number(flagValue('max-context-length', '32'));
const maxCand = Number(flagValue('max-cand-length', '48'));
const threads = Number(flagValue('threads', String(os.availableParallelism())));
const port = Number(flagValue('port', '0'));
const say = (s: string): void => void process.stderr.write(`onnx peer: ${s}\n`);

const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
const tok = new Tokenizer(json, {});
const vocab = json.model.vocab;
const id = (t: string): number => {
  const v = vocab[t];
  if (v === undefined) throw new Error(`tokenizer.json: no ${t}`);
  return v;
};
const [CLS, SEP, M0, M1, TITLE] = ['[CLS]', '[SEP]', '[unused0]', '[unused1]', '[unused2]'].map(id) as [
  number,
  number,
  number,
  number,
  number,
];
const pieces = (text: string): number[] => (text === '' ? [] : tok.encode(text, { add_special_tokens: false }).ids);

/** BLINK's get_context_representation: the mention centred, spare quota of a short side to the other. */
function contextIds(m: { text: string; left: string; right: string }): number[] {
  const mention = [M0, ...pieces(m.text), M1];
  const left = pieces(m.left);
  const right = pieces(m.right);
  let lq = Math.floor((maxCtx - mention.length) / 2) - 1;
  let rq = maxCtx - mention.length - lq - 2;
  if (left.length <= lq) {
    if (right.length > rq) rq += lq - left.length;
  } else if (right.length <= rq) lq += rq - right.length;
  return [CLS, ...left.slice(-lq), ...mention, ...right.slice(0, rq), SEP].slice(0, maxCtx);
}

function candidateIds(title: string, text: string): number[] {
  return [CLS, ...[...pieces(title), TITLE, ...pieces(text)].slice(0, maxCand - 2), SEP];
}

const opts: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

/** [CLS] vectors of id rows (0-padded to the longest), one session.run. */
async function encode(session: ort.InferenceSession, rows: number[][]): Promise<{ data: Float32Array; dim: number }> {
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * T);
  const mask = new BigInt64Array(rows.length * T);
  rows.forEach((r, b) =>
    r.forEach((v, t) => {
      ids[b * T + t] = BigInt(v);
      mask[b * T + t] = 1n;
    }),
  );
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [rows.length, T]),
    attention_mask: new ort.Tensor('int64', mask, [rows.length, T]),
  });
  const cls = out['cls']!;
  const data = Float32Array.from(cls.data as Float32Array);
  const dim = cls.dims[1]!;
  cls.dispose();
  return { data, dim };
}

const t0 = performance.now();
const context = await ort.InferenceSession.create(join(dir, 'context.onnx'), opts);
const candidate = await ort.InferenceSession.create(join(dir, 'candidate.onnx'), opts);
const entities = readFileSync(kb, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { document_id: string; title: string; text: string });
const chunks: Float32Array[] = [];
let dim = 0;
for (let i = 0; i < entities.length; i += 64) {
  const r = await encode(
    candidate,
    entities.slice(i, i + 64).map((e) => candidateIds(e.title, e.text)),
  );
  chunks.push(r.data);
  dim = r.dim;
}
await candidate.release();
const E = new Float32Array(entities.length * dim);
let off = 0;
for (const c of chunks) {
  E.set(c, off);
  off += c.length;
}
say(`${entities.length} entities x ${dim} encoded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** The k best rows of E for query q (scores: dot products), best first; ties keep the earlier row. */
function topk(q: Float32Array, qo: number, k: number): LinkCandidate[] {
  const best: Array<{ row: number; score: number }> = [];
  for (let r = 0; r < entities.length; r++) {
    let s = 0;
    const eo = r * dim;
    for (let j = 0; j < dim; j++) s += q[qo + j]! * E[eo + j]!;
    if (best.length < k || s > best[best.length - 1]!.score) {
      let at = best.length;
      while (at > 0 && best[at - 1]!.score < s) at--;
      best.splice(at, 0, { row: r, score: s });
      if (best.length > k) best.pop();
    }
  }
  return best.map(({ row, score }) => ({ id: entities[row]!.document_id, name: entities[row]!.title, score }));
}

const norm = (m: LinkMention) => (typeof m === 'string' ? { text: m, left: '', right: '' } : { left: '', right: '', ...m });
let batches = 0;
let last = 0;
const service: LinkService = {
  async link(mentions, o = {}) {
    const q = await encode(
      context,
      mentions.map((m) => contextIds(norm(m))),
    );
    batches += 1;
    last = mentions.length;
    return mentions.map((_, i) => topk(q.data, i * q.dim, o.topK ?? 8));
  },
  async embed(texts) {
    const q = await encode(
      context,
      texts.map((t) => contextIds({ text: t, left: '', right: '' })),
    );
    return texts.map((_, i) => q.data.slice(i * q.dim, (i + 1) * q.dim));
  },
  info(): LinkerInfo {
    return {
      model: dir,
      modelHash: '',
      entities: entities.length,
      dim,
      dtype: 'f32',
      device: 'cpu',
      maxContextLength: maxCtx,
      maxCandLength: maxCand,
    };
  },
  stats(): LinkerStats {
    return { queued: 0, inFlight: 0, batches, lastBatchMentions: last, lastBatchTokens: 0 };
  },
};

const server = createServer(service, { port, log: say });
await server.listen();
process.once('SIGTERM', () => {
  void server.close().then(async () => {
    await context.release();
    process.exit(0);
  });
});
