// Linker end to end on the built-in data with a tiny bi-encoder checkpoint: the same top-k as the
// evaluation, the checkpoint's recorded windows, the original's folder format, an index of another
// model refused, and the service behaviour (coalesced batches, overload, abort, a free event loop).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { contextRepresentation } from '../../src/data/blink-inputs.js';
import { encodeEntityPool } from '../../src/eval/entity-pool.js';
import { retrieve } from '../../src/eval/retrieve.js';
import {
  AbortError,
  buildIndex,
  CheckpointRejectedError,
  evaluateBiencoder,
  Linker,
  OverloadedError,
  SettingsError,
  type LinkMention,
} from '../../src/index.js';
import type { LinkerBatch } from '../../src/link/types.js';
import { Bert } from '../../src/models/bert.js';
import { HfWordPieceTokenizer } from '../../src/tokenize/hf-tokenizer.js';
import { saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { caches, cleanup, ROOT, smallDataset, TINY, tinyModel, tmp, tokenizer, VOCAB } from '../eval/retrieve-helpers.js';

let data: Awaited<ReturnType<typeof smallDataset>>;
let ck: string;
let idx: string;
let linker: Linker;
const model = tinyModel(21, { config: { ...TINY, pooler: true } });

interface Prepared {
  mention: string;
  context_left: string;
  context_right: string;
  label_id: number;
}
const prepared = (split: string): Prepared[] =>
  readFileSync(join(data.processed, `${split}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Prepared);
const docIds = (): string[] =>
  readFileSync(data.entities, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { document_id: string }).document_id);

beforeAll(async () => {
  data = await smallDataset({ train: 10, val: 10, test: 30 });
  ck = join(tmp('biofeg-link-ck-'), 'model');
  // The windows the model "was trained with": recorded in config.json and used by default.
  await saveBiEncoder(ck, model, {
    settings: { addLinear: false, outDim: 1 },
    vocabPath: VOCAB,
    lowercase: true,
    torchBin: false,
    inference: { maxContextLength: 32, maxCandLength: 48 },
  });
  idx = join(tmp('biofeg-link-idx-'), 'index');
  const r = await buildIndex({ model: ck, kb: data.entities, out: idx, device: 'cpu', batchSize: 64 });
  expect(r).toMatchObject({ count: 439, dim: TINY.hiddenSize, dtype: 'f32' });
  linker = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 1 });
}, 120_000);
afterAll(async () => {
  await linker?.close();
  cleanup();
});

describe('Linker', () => {
  it('links a split the way the evaluation retrieves it (same ids, same scores) and reads the recorded windows', async () => {
    expect(linker.info()).toMatchObject({ entities: 439, dim: 32, dtype: 'f32', device: 'cpu', maxContextLength: 32, maxCandLength: 48 });
    const c = await caches(data.processed, data.entities, 'test', 32, 48);
    const k = 16;
    let res: Awaited<ReturnType<typeof retrieve>>;
    try {
      const pool = await encodeEntityPool(model, c.entities, { batchSize: 8 });
      res = await retrieve(model, c.mentions, pool, { topK: k, batchSize: 8 });
      pool.dispose();
    } finally {
      c.mentions.close();
      c.entities.close();
    }
    const ms = prepared('test');
    const out = await linker.link(
      ms.map((m) => ({ text: m.mention, left: m.context_left, right: m.context_right })),
      { topK: k },
    );
    const ids = docIds();
    expect(out).toHaveLength(30);
    for (let i = 0; i < ms.length; i++) {
      expect(out[i]!.map((x) => x.id)).toEqual(Array.from(res.indices.subarray(i * k, (i + 1) * k), (e) => ids[e]));
      out[i]!.forEach((x, j) => expect(x.score).toBeCloseTo(res.scores[i * k + j]!, 4));
    }

    // evaluateBiencoder with no window given reads the checkpoint's (32 / 48): the same recall.
    const evalOut = tmp('biofeg-link-eval-');
    const ev = await evaluateBiencoder({
      dataPath: data.processed,
      outputPath: evalOut,
      pathToModel: ck,
      entityDictPath: data.entities,
      modes: ['test'],
      topK: k,
      device: 'cpu',
      workers: 0,
    });
    const report = JSON.parse(readFileSync(ev.reportPath, 'utf8')) as { settings: { maxContextLength: number; maxCandLength: number } };
    expect(report.settings).toMatchObject({ maxContextLength: 32, maxCandLength: 48 });
    const hits = (kk: number) => ms.filter((m, i) => out[i]!.slice(0, kk).some((x) => x.id === ids[m.label_id])).length / ms.length;
    for (const kk of [1, 4, 8, 16]) expect(ev.modes[0]!.recall[String(kk)]).toBeCloseTo(hits(kk), 6);
  }, 120_000);

  it('a plain string is the mention without context; embed gives its vector (embed · entity = link score)', async () => {
    const [a] = await linker.link(['multiple sclerosis'], { topK: 3 });
    const [b] = await linker.link([{ text: 'multiple sclerosis' }], { topK: 3 });
    expect(a).toEqual(b);
    expect(a!.map((x) => x.name)).toHaveLength(3);
    const [v] = await linker.embed(['multiple sclerosis']);
    expect(v).toBeInstanceOf(Float32Array);
    expect(v!.length).toBe(32);
    // The top entity's vector, encoded by the candidate side as the index does.
    const ids = docIds();
    const row = ids.indexOf(a![0]!.id);
    const doc = JSON.parse(readFileSync(data.entities, 'utf8').split('\n')[row]!) as { title: string; text: string };
    const { candidateRepresentation } = await import('../../src/data/blink-inputs.js');
    const { trimmedBatch } = await import('../../src/eval/token-batch.js');
    const r = candidateRepresentation(tokenizer(), doc.text.trim(), 48, doc.title);
    const e = (await model.encode('candidate', trimmedBatch(r.ids, 1, 48, 48), false)).download() as Float32Array;
    let dot = 0;
    for (let i = 0; i < 32; i++) dot += v![i]! * e[i]!;
    expect(dot).toBeCloseTo(a![0]!.score, 3);
  });

  it('an explicit maxContextLength other than the recorded one is used, with a warning', async () => {
    const warnings: string[] = [];
    const onWarn = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarn);
    const l = await Linker.load(ck, idx, { device: 'cpu', maxContextLength: 64 });
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarn);
    try {
      expect(l.info().maxContextLength).toBe(64);
      expect(warnings).toEqual([`${ck}: maxContextLength 64 given, but the checkpoint was trained with 32; results may be worse`]);
      const m = prepared('test')[0]!;
      const q = { text: m.mention, left: m.context_left, right: m.context_right };
      const [a] = await l.link([q], { topK: 3 });
      const [b] = await linker.link([q], { topK: 3 });
      expect(a!.map((x) => x.score)).not.toEqual(b!.map((x) => x.score)); // another window, other vectors
    } finally {
      await l.close();
    }
  });

  it('refuses an index built with another model, and bad arguments', async () => {
    const other = join(tmp('biofeg-link-other-'), 'model');
    await saveBiEncoder(other, tinyModel(5, { config: { ...TINY, pooler: true } }), {
      settings: { addLinear: false, outDim: 1 },
      vocabPath: VOCAB,
      torchBin: false,
      inference: { maxContextLength: 32, maxCandLength: 48 },
    });
    const e = await Linker.load(other, idx, { device: 'cpu' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointRejectedError);
    expect((e as Error).message).toMatch(/the index was built with another model/);
    await expect(Linker.load(ck, join(tmp('biofeg-none-'), 'x'), { device: 'cpu' })).rejects.toThrow(/no index\.json/);
    await expect(Linker.load(ck, idx, { device: 'cpu', maxContextLength: 2 })).rejects.toThrow(/maxContextLength must be an integer >= 4/);
    await expect(Linker.load(ck, idx, { device: 'cpu', batch: 3 } as never)).rejects.toThrow(/unknown option "batch"/);
    await expect(linker.link(['x'], { topK: 0 })).rejects.toBeInstanceOf(SettingsError);
    await expect(linker.link(['x'], { topK: 440 })).rejects.toThrow(/topK 440 exceeds/);
    await expect(linker.link([{ text: 3 } as unknown as LinkMention])).rejects.toThrow(/mentions\[0\]\.text must be a string/);
    await expect(linker.link('x' as unknown as LinkMention[])).rejects.toThrow(/expected an array/);
  });

  it("loads the original's folder (pytorch_model.bin, the HF config.json, vocab.txt) with today's defaults and a warning", async () => {
    const orig = join(tmp('biofeg-link-orig-'), 'model');
    await saveBiEncoder(orig, model, { settings: { addLinear: false, outDim: 1 }, vocabPath: VOCAB, torchBin: true });
    rmSync(join(orig, 'model.safetensors'));
    const cfg = JSON.parse(readFileSync(join(orig, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg['biofeg'];
    writeFileSync(join(orig, 'config.json'), JSON.stringify(cfg));
    // Short entity texts: the same vectors whatever the candidate window.
    const kb = join(tmp('biofeg-link-kb-'), 'kb.jsonl');
    writeFileSync(
      kb,
      [
        '{"id":"D1","name":"multiple sclerosis","description":"a demyelinating disease"}',
        '{"id":"D2","name":"asthma","synonyms":["wheezing"]}',
        '{"id":"D3","name":"gout"}',
      ].join('\n'),
    );
    const a = join(tmp('biofeg-link-a-'), 'i');
    const b = join(tmp('biofeg-link-b-'), 'i');
    await buildIndex({ model: ck, kb, out: a, device: 'cpu' });
    await buildIndex({ model: orig, kb, out: b, device: 'cpu' });
    const warnings: string[] = [];
    const onWarn = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarn);
    const la = await Linker.load(ck, a, { device: 'cpu' });
    const lb = await Linker.load(orig, b, { device: 'cpu' });
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarn);
    try {
      expect(lb.info()).toMatchObject({ maxContextLength: 128, maxCandLength: 128, entities: 3 });
      expect(warnings.some((w) => /records no inference settings; using max_context_length 128/.test(w))).toBe(true);
      expect(warnings.filter((w) => w.startsWith(ck))).toEqual([]);
      const qs = ['sclerosis', 'wheezing', 'gout attack'];
      const ra = await la.link(qs, { topK: 3 });
      const rb = await lb.link(qs, { topK: 3 });
      expect(rb.map((r) => r.map((x) => x.id))).toEqual(ra.map((r) => r.map((x) => x.id)));
      rb.forEach((r, i) => r.forEach((x, j) => expect(x.score).toBeCloseTo(ra[i]![j]!.score, 4)));
    } finally {
      await la.close();
      await lb.close();
    }
  }, 60_000);
});

describe('Linker under concurrent calls', () => {
  it('coalesces concurrent calls into one encoder batch (up to maxBatchTokens), each call getting its own answers', async () => {
    const l = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 200, maxBatchTokens: 32 * 8 });
    try {
      const qs = Array.from({ length: 6 }, (_, i) => prepared('test')[i]!.mention);
      const alone = await Promise.all(qs.map((q) => linker.link([q], { topK: 2 })));
      const before = l.stats().batches;
      const seen: LinkerBatch[] = [];
      const off = l.onBatch((b) => seen.push(b));
      const t0 = performance.now();
      const together = await Promise.all(qs.map((q, i) => l.link([q], { topK: 1 + (i % 2) })));
      off();
      expect(l.stats().batches - before).toBe(1);
      expect(l.stats().lastBatchMentions).toBe(6);
      expect(l.stats().lastBatchTokens).toBeGreaterThan(0);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ kind: 'link', mentions: 6, tokens: l.stats().lastBatchTokens });
      expect(seen[0]!.seconds).toBeGreaterThan(0);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(150); // waited for more (maxWaitMs) as it was not full
      together.forEach((r, i) => expect(r[0]!.map((x) => x.id)).toEqual(alone[i]![0]!.slice(0, 1 + (i % 2)).map((x) => x.id)));
      // 8 mentions fill a batch (maxBatchTokens / window): 20 concurrent ones take 3 batches, the first at once.
      const b2 = l.stats().batches;
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => l.link([qs[i % 6]!])));
      expect(l.stats().batches - b2).toBe(3);
      expect(many.map((r) => r[0]![0]!.id)).toEqual(Array.from({ length: 20 }, (_, i) => together[i % 6]![0]![0]!.id));
      expect(l.stats()).toMatchObject({ queued: 0, inFlight: 0 });
    } finally {
      await l.close();
    }
  });

  // The scheduling decisions, not their timing: setTimeout and performance.now are faked, so a batch
  // that waits for company goes only when the test moves the clock, and one that does not wait goes
  // within a turn of the (real) event loop. The worker answers in real time, whatever the load.
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const fakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });

  it('a lone caller is not held for maxWaitMs; calls that come together still wait for company', async () => {
    const l = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 1000 });
    fakeClock();
    try {
      const waits = async (f: () => Promise<unknown>): Promise<void> => {
        const p = f();
        await turn();
        expect(l.stats().queued).toBeGreaterThan(0); // held: its timer has not fired
        vi.advanceTimersByTime(1000);
        await p;
      };
      const goesAtOnce = async (f: () => Promise<unknown>): Promise<void> => {
        const p = f();
        await turn();
        expect(l.stats().queued).toBe(0); // sent without the clock moving
        await p;
      };
      // Before any batch there is no evidence either way: the first call waits for company.
      await waits(() => l.link(['asthma']));
      // After a batch of one call, a call that finds the Linker idle goes at once, every time.
      for (let i = 0; i < 5; i++) await goesAtOnce(() => l.link(['gout']));
      // Calls made in one turn of the event loop still share one batch, without the wait.
      const b0 = l.stats().batches;
      await goesAtOnce(() => Promise.all([l.link(['a']), l.link(['b']), l.link(['c'])]));
      expect([l.stats().batches - b0, l.stats().lastBatchMentions]).toEqual([1, 3]);
      // After a batch of several calls, an idle Linker waits for company again.
      await waits(() => l.link(['asthma']));
    } finally {
      vi.useRealTimers();
      await l.close();
    }
  }, 30_000);

  it('time queued behind a running batch counts toward maxWaitMs', async () => {
    const l = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 300, maxBatchTokens: 32 * 8 });
    fakeClock();
    try {
      // A call of several full batches goes at once and keeps the worker busy; an embed (another
      // kind: never in the same batch) is queued behind it, due 300 ms after its call.
      const linkDone = l.link(
        Array.from({ length: 40 }, (_, i) => `mention ${i}`),
        { topK: 1 },
      );
      const embedDone = l.embed(['asthma']);
      expect(l.stats().queued).toBeGreaterThan(1); // the rest of the link, and the embed
      // Its 300 ms pass while the worker is busy with the link.
      vi.advanceTimersByTime(1000);
      await linkDone;
      // The link's last answer finds the embed overdue: it is sent at once, not after a fresh wait.
      await turn();
      expect(l.stats()).toMatchObject({ queued: 0, inFlight: 1 });
      expect(await embedDone).toHaveLength(1);
    } finally {
      vi.useRealTimers();
      await l.close();
    }
  }, 60_000);

  it('refuses at once with OverloadedError beyond maxConcurrentRequests; an AbortSignal cancels a queued call', async () => {
    const l = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 300, maxConcurrentRequests: 4 });
    try {
      const ok = [l.link(['a', 'b']), l.link(['c'])];
      const ac = new AbortController();
      const aborted = l.link(['d'], { signal: ac.signal });
      expect(l.stats().queued).toBe(4);
      const t0 = performance.now();
      const e = await l.link(['e']).catch((x: unknown) => x);
      expect(performance.now() - t0).toBeLessThan(250); // at once, not after the 300 ms wait
      expect(e).toBeInstanceOf(OverloadedError);
      expect((e as OverloadedError).code).toBe('ERR_BIOFEG_OVERLOADED');
      await expect(l.link(['1', '2', '3', '4', '5'])).rejects.toBeInstanceOf(SettingsError);
      ac.abort();
      await expect(aborted).rejects.toBeInstanceOf(AbortError);
      expect(l.stats().queued).toBe(3);
      const r = await Promise.all(ok);
      expect(r.map((x) => x.length)).toEqual([2, 1]);
      // Room again: a new call is taken.
      expect(await l.link(['f'])).toHaveLength(1);
      await expect(l.link(['g'], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    } finally {
      await l.close();
    }
    await expect(l.link(['x'])).rejects.toThrow(/closed/);
  });

  it('an idle Linker does not keep the process alive (a script that never calls close() exits)', () => {
    const code = [
      `import { Linker } from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))};`,
      `const l = await Linker.load(${JSON.stringify(ck)}, ${JSON.stringify(idx)}, { device: 'cpu' });`,
      "const r = await l.link(['asthma'], { topK: 2 });",
      'console.log(r[0].length);',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('2\n');
  }, 90_000);

  it('close() lets queued calls finish', async () => {
    const l = await Linker.load(ck, idx, { device: 'cpu', maxWaitMs: 500 });
    const p = l.link(['asthma', 'gout']);
    await l.close();
    expect(await p).toHaveLength(2);
  });

  it('tokenizes and encodes on the Linker worker: no tokenizer or BERT call on the main thread while linking', async () => {
    const ms = prepared('test');
    const long = (i: number): { text: string; left: string; right: string } => {
      const m = ms[i % ms.length]!;
      return { text: m.mention, left: (m.context_left + ' ').repeat(20), right: (' ' + m.context_right).repeat(20) };
    };
    const mentions = Array.from({ length: 1500 }, (_, i) => long(i));
    const l = await Linker.load(ck, idx, { device: 'cpu', maxConcurrentRequests: 2048 });
    // Every tokenization and BERT forward made on this thread goes through these (the worker has its own modules).
    const spies = [
      vi.spyOn(HfWordPieceTokenizer.prototype, 'tokenize'),
      vi.spyOn(HfWordPieceTokenizer.prototype, 'encode'),
      vi.spyOn(HfWordPieceTokenizer.prototype, 'encodeTruncated'),
      vi.spyOn(Bert.prototype, 'forward'),
      vi.spyOn(Bert.prototype, 'forwardAsync'),
    ];
    const mainThreadCalls = (): number => spies.reduce((n, s) => n + s.mock.calls.length, 0);
    try {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < mentions.length; i += 50) calls.push(l.link(mentions.slice(i, i + 50), { topK: 8 }));
      const out = (await Promise.all(calls)) as unknown[][];
      expect(out.flat()).toHaveLength(1500);
      expect(mainThreadCalls()).toBe(0);
      // The control: tokenizing a window on this thread is seen by the spies.
      contextRepresentation(tokenizer(), mentions[0]!.text, mentions[0]!.left, mentions[0]!.right, 32);
      expect(mainThreadCalls()).toBeGreaterThan(0);
    } finally {
      for (const sp of spies) sp.mockRestore();
      await l.close();
    }
  }, 60_000);
});
