// Linker reranking with a cross-encoder: a split's mentions linked with rerank come in the order
// the evaluation's pair scoring (evaluate-crossencoder's, on the same top-k candidate file) gives,
// with the same scores and the same hits; concurrent calls of other k or without rerank keep their
// own answers; rerank without a cross-encoder, a cross-encoder of another vocabulary or size, and
// an index without entity texts are errors.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { register as registerEvalCross } from '../../src/cli/commands/eval-cross.js';
import { pairInputs } from '../../src/data/cross-inputs.js';
import { readCandidateFile } from '../../src/eval/candidates.js';
import { CheckpointRejectedError, evaluateBiencoder, evaluateCrossencoder, Linker, SettingsError } from '../../src/index.js';
import { reorderByScore } from '../../src/link/rerank.js';
import type { LinkCandidate } from '../../src/link/types.js';
import { Bert } from '../../src/models/bert.js';
import { Workspace } from '../../src/models/workspace.js';
import { openCrossEncoder, saveCrossEncoder } from '../../src/train/cross-checkpoint.js';
import { openTopk } from '../../src/train/cross-data.js';
import { crossStep } from '../../src/train/cross-step.js';
import { cleanup, tmp, tokenizer, VOCAB } from '../eval/retrieve-helpers.js';
import { runCli } from '../support/cli.js';
import { CROSS_WINDOWS, type RerankFixture, rerankFixture } from './rerank-fixture.js';

let f: RerankFixture;
let linker: Linker;

interface Prepared {
  mention: string;
  context_left: string;
  context_right: string;
  label_id: number;
}
const lines = (p: string): string[] =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

beforeAll(async () => {
  f = await rerankFixture();
  linker = await Linker.load(f.ck, f.idx, { device: 'cpu', maxWaitMs: 1, crossencoder: f.cross });
}, 120_000);
afterAll(async () => {
  await linker?.close();
  cleanup();
});

describe('Linker rerank', () => {
  it("orders a split's top-k as evaluate-crossencoder scores the same candidates (same scores, same hits)", async () => {
    expect(linker.info()).toMatchObject({ crossencoder: f.cross, maxContextLength: 32, maxCandLength: 48 });
    // A random bi-encoder retrieves few golds: a wide k keeps enough mentions in the candidate file.
    const k = 64;
    const evalOut = tmp('biofeg-rerank-bi-');
    await evaluateBiencoder({
      dataPath: f.data.processed,
      outputPath: evalOut,
      pathToModel: f.ck,
      entityDictPath: f.data.entities,
      modes: ['test'],
      topK: k,
      saveTopkResult: true,
      device: 'cpu',
      workers: 0,
    });
    const cands = join(evalOut, `top${k}_candidates`);
    const ev = await evaluateCrossencoder({
      dataPath: cands,
      pathToModel: f.cross,
      outputPath: tmp('biofeg-rerank-ev-'),
      modes: ['test'],
      addLinear: true,
      evalBatchSize: 4,
      device: 'cpu',
    });

    // The scores evaluation computes for each kept row of the candidate file (all rows at once here).
    const file = readCandidateFile(join(cands, 'test.topk'));
    const src = openTopk(join(cands, 'test.topk'));
    const { model } = openCrossEncoder({ device: 'cpu', pathToModel: f.cross });
    const ws = new Workspace('cpu');
    const rows = Int32Array.from({ length: src.count }, (_, i) => i);
    const { contexts, candidates } = src.read(rows);
    const pairs = pairInputs(contexts, src.ctxLen, candidates, src.candLen, src.count, k, CROSS_WINDOWS);
    const want = await crossStep(model, ws, pairs, k, src.labels, { dropout: false, grad: false, seed: 0n });
    ws.dispose();
    src.close();
    expect(file.header.inserted).toBe(0);
    expect(src.count).toBeGreaterThan(5);

    const ms = lines(join(f.data.processed, 'test.jsonl')).map((l) => JSON.parse(l) as Prepared);
    const ids = lines(f.data.entities).map((l) => (JSON.parse(l) as { document_id: string }).document_id);
    const mentions = ms.map((m) => ({ text: m.mention, left: m.context_left, right: m.context_right }));
    const out = await linker.link(mentions, { topK: k, rerank: true });
    const plain = await linker.link(mentions, { topK: k });
    let hits = 0;
    let reordered = 0;
    for (let r = 0; r < src.count; r++) {
      const m = file.rows.mention[r]!;
      const sc = want.scores.subarray(r * k, (r + 1) * k);
      const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => sc[b]! - sc[a]! || a - b);
      const fileIds = Array.from(file.rows.candidates.subarray(r * k, (r + 1) * k), (e) => ids[e]);
      expect(plain[m]!.map((c) => c.id)).toEqual(fileIds);
      expect(out[m]!.map((c) => c.id)).toEqual(order.map((j) => fileIds[j]));
      out[m]!.forEach((c, j) => {
        expect(c.crossScore).toBeCloseTo(sc[order[j]!]!, 4);
        // score stays the bi-encoder's, carried with its candidate.
        expect(c.score).toBe(plain[m]!.find((p) => p.id === c.id)!.score);
      });
      if (out[m]![0]!.id === ids[ms[m]!.label_id]) hits++;
      if (order.some((j, i) => j !== i)) reordered++;
    }
    expect(hits).toBe(ev.modes[0]!.hits);
    // eval-cross on the command line, no window flags: the checkpoint's recorded windows, the same hits.
    const cliOut = tmp('biofeg-rerank-cli-');
    await runCli(registerEvalCross, 'eval-cross', [
      ...['--data_path', cands, '--path_to_model', f.cross, '--output_path', cliOut, '--mode', 'test', '--add_linear'],
      ...['--device', 'cpu', '--silent'],
    ]);
    const rep = JSON.parse(readFileSync(join(cliOut, 'eval_report.json'), 'utf8')) as {
      settings: { maxContextLength: number; maxSeqLength: number };
      modes: { hits: number }[];
    };
    expect(rep.settings).toMatchObject({ maxContextLength: 32, maxSeqLength: 64 });
    expect(rep.modes[0]!.hits).toBe(hits);
    expect(reordered).toBeGreaterThan(0);
    for (const c of plain.flat()) expect(c.crossScore).toBeUndefined();
  }, 180_000);

  it('concurrent calls with other k, or without rerank, each get their own answer', async () => {
    const ms = ['multiple sclerosis', { text: 'CIP', left: 'treated with', right: 'for a week' }, 'asthma'];
    const alone = [
      await linker.link(ms, { topK: 3, rerank: true }),
      await linker.link(ms, { topK: 6, rerank: true }),
      await linker.link(ms, { topK: 6 }),
    ];
    const together = await Promise.all([
      linker.link(ms, { topK: 3, rerank: true }),
      linker.link(ms, { topK: 6, rerank: true }),
      linker.link(ms, { topK: 6 }),
    ]);
    for (let i = 0; i < 3; i++)
      for (let m = 0; m < ms.length; m++) {
        expect(together[i]![m]!.map((c) => c.id)).toEqual(alone[i]![m]!.map((c) => c.id));
        together[i]![m]!.forEach((c, j) => expect(c.crossScore ?? 0).toBeCloseTo(alone[i]![m]![j]!.crossScore ?? 0, 4));
      }
    // Reranked: ordered by crossScore, best first.
    for (const cands of together[1]!)
      for (let j = 1; j < cands.length; j++) expect(cands[j]!.crossScore!).toBeLessThanOrEqual(cands[j - 1]!.crossScore!);
  }, 60_000);

  it('scores on the Linker worker: reranking runs no BERT forward on the main thread', async () => {
    const ms = lines(join(f.data.processed, 'test.jsonl')).map((l) => JSON.parse(l) as Prepared);
    const mentions = Array.from({ length: 240 }, (_, i) => ({ text: ms[i % ms.length]!.mention, left: ms[i % ms.length]!.context_left }));
    const k = 16;
    // Every forward of a BERT made on this thread goes through these (the worker has its own modules).
    const spies = [vi.spyOn(Bert.prototype, 'forward'), vi.spyOn(Bert.prototype, 'forwardAsync')];
    const forwards = (): number => spies.reduce((n, s) => n + s.mock.calls.length, 0);
    try {
      const calls: Promise<LinkCandidate[][]>[] = [];
      for (let i = 0; i < mentions.length; i += 24) calls.push(linker.link(mentions.slice(i, i + 24), { topK: k, rerank: true }));
      const out = (await Promise.all(calls)).flat();
      expect(out).toHaveLength(240);
      expect(out.every((c) => c.length === k && c.every((x) => Number.isFinite(x.crossScore)))).toBe(true);
      expect(forwards()).toBe(0);
      // The control: scoring pairs on this thread is seen by the spies.
      const { model } = openCrossEncoder({ device: 'cpu', pathToModel: f.cross });
      const ws = new Workspace('cpu');
      const pairs = pairInputs(new Int32Array(2 * 32).fill(5), 32, new Int32Array(2 * k * 48).fill(7), 48, 2, k, CROSS_WINDOWS);
      await crossStep(model, ws, pairs, k, new Int32Array(2), { dropout: false, grad: false, seed: 0n });
      ws.dispose();
      expect(forwards()).toBeGreaterThan(0);
    } finally {
      for (const s of spies) s.mockRestore();
    }
  }, 60_000);

  it('sorts NaN cross scores last, in the bi-encoder order, whatever their position', () => {
    const k = 6;
    const cross = Float32Array.from([Number.NaN, 0.5, Number.NaN, 0.9, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    const indices = Int32Array.from([10, 11, 12, 13, 14, 15]);
    const scores = Float32Array.from([6, 5, 4, 3, 2, 1]);
    reorderByScore(indices, scores, cross, 1, k);
    expect(Array.from(indices)).toEqual([15, 13, 11, 14, 10, 12]);
    expect(Array.from(scores)).toEqual([1, 3, 5, 2, 6, 4]);
    // Ties keep the bi-encoder order, infinite ones included.
    const c2 = Float32Array.from([1, Number.POSITIVE_INFINITY, 1, Number.POSITIVE_INFINITY]);
    const i2 = Int32Array.from([0, 1, 2, 3]);
    reorderByScore(i2, new Float32Array(4), c2, 1, 4);
    expect(Array.from(i2)).toEqual([1, 3, 0, 2]);
  });

  it('refuses rerank without a cross-encoder, a bad rerank value, and cross-encoders or indexes it cannot use', async () => {
    const plain = await Linker.load(f.ck, f.idx, { device: 'cpu' });
    try {
      expect(plain.info().crossencoder).toBeUndefined();
      await expect(plain.link(['asthma'], { rerank: true })).rejects.toThrow(SettingsError);
      await expect(plain.link(['asthma'], { rerank: true })).rejects.toThrow(/rerank needs a cross-encoder/);
      expect(await plain.link(['asthma'], { rerank: false })).toHaveLength(1);
    } finally {
      await plain.close();
    }
    await expect(linker.link(['asthma'], { rerank: 'yes' as unknown as boolean })).rejects.toThrow(/rerank must be a boolean/);
    await expect(Linker.load(f.ck, f.idx, { crossencoder: '' })).rejects.toThrow(SettingsError);

    // Another size of vocabulary (no vocab.txt beside it): its embedding table does not fit the bi-encoder's ids.
    const n = tokenizer().vocabSize;
    const bigger = join(tmp('biofeg-rerank-x-'), 'cross');
    await saveCrossEncoder(bigger, openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: n + 5 }).model, {
      windows: CROSS_WINDOWS,
    });
    await expect(Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: bigger })).rejects.toThrow(CheckpointRejectedError);
    await expect(Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: bigger })).rejects.toThrow(
      new RegExp(`embeds ${n + 5} token ids, the bi-encoder's vocabulary has ${n}`),
    );
    // Another vocabulary beside it.
    const otherVocab = join(tmp('biofeg-rerank-v-'), 'vocab.txt');
    writeFileSync(otherVocab, `${readFileSync(VOCAB, 'utf8').trimEnd()}\nzzzextra\n`);
    const other = join(tmp('biofeg-rerank-y-'), 'cross');
    await saveCrossEncoder(other, openCrossEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: n + 1 }).model, {
      windows: CROSS_WINDOWS,
      vocabPath: otherVocab,
    });
    await expect(Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: other })).rejects.toThrow(/vocabulary .* is not the bi-encoder's/);
    // A bi-encoder folder is not a cross-encoder; a missing folder is named.
    await expect(Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: f.ck })).rejects.toThrow(/not a cross-encoder/);
    await expect(Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: join(f.cross, 'nope') })).rejects.toThrow(
      /nope: not a cross-encoder checkpoint folder/,
    );

    // An index that keeps no entity texts (as one built before them) cannot rerank.
    const old = join(tmp('biofeg-rerank-old-'), 'index');
    const m = JSON.parse(readFileSync(join(f.idx, 'index.json'), 'utf8')) as Record<string, unknown>;
    const { texts, ...rest } = m;
    mkdirSync(old, { recursive: true });
    for (const file of [rest['vectors'], rest['entities']] as string[]) copyFileSync(join(f.idx, file), join(old, file));
    writeFileSync(join(old, 'index.json'), JSON.stringify(rest));
    expect(typeof texts).toBe('string');
    await expect(Linker.load(f.ck, old, { device: 'cpu', crossencoder: f.cross })).rejects.toThrow(/keeps no entity texts/);
    rmSync(old, { recursive: true, force: true });
  }, 120_000);
});
