// Cross-encoder pair inputs against the original's functions (fixture from
// test/reference/make_cross_fixture.py: get_context_representation / get_candidate_representation,
// modify(), to_bert_input()), and the .t7 candidate files read by the safe torch reader.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { writeTorchSave, torchDict } from '../../src/checkpoint/index.js';
import { candidateRepresentation, contextRepresentation } from '../../src/data/blink-inputs.js';
import { joinPairs, pairInputs, toBertInput } from '../../src/data/cross-inputs.js';
import { InputError } from '../../src/errors.js';
import { fromVocab } from '../../src/tokenize/index.js';
import { openT7 } from '../../src/train/cross-data.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIX = join(root, 'test', 'fixtures', 'cross');

interface Case {
  max_seq_length: number;
  max_context_length: number;
  seq: number;
  ids: number[];
  segment_ids: number[];
  mask: number[];
}
const fx = JSON.parse(readFileSync(join(FIX, 'inputs.json'), 'utf8')) as {
  max_context_length: number;
  max_cand_length: number;
  k: number;
  mentions: { mention: string; context_left: string; context_right: string }[];
  entities: { title: string; text: string }[];
  nns: number[][];
  labels: number[];
  context_vecs: number[];
  candidate_vecs: number[];
  cases: Case[];
};
const n = fx.mentions.length;
const ctxLen = fx.max_context_length;
const candLen = fx.max_cand_length;
const contexts = Int32Array.from(fx.context_vecs);
const candidates = Int32Array.from(fx.candidate_vecs);

describe('cross-encoder inputs: the original functions', () => {
  it('the windows the bi-encoder saves are ours (get_context_representation, get_candidate_representation)', () => {
    const tok = fromVocab(join(root, 'data', 'default', 'vocab.txt'), { lowercase: true });
    const ctx = fx.mentions.flatMap((m) => [...contextRepresentation(tok, m.mention, m.context_left, m.context_right, ctxLen).ids]);
    expect(ctx).toEqual(fx.context_vecs);
    const ent = fx.entities.map((e) => [...candidateRepresentation(tok, e.text, candLen, e.title).ids]);
    expect(fx.nns.flatMap((nn) => nn.flatMap((e) => ent[e]!))).toEqual(fx.candidate_vecs);
  });

  it.each(fx.cases.map((c) => [`max_seq_length ${c.max_seq_length}, max_context_length ${c.max_context_length}`, c] as const))(
    'modify() + to_bert_input(): %s',
    (_name, c) => {
      const b = pairInputs(contexts, ctxLen, candidates, candLen, n, fx.k, {
        maxSeqLength: c.max_seq_length,
        maxContextLength: c.max_context_length,
        trim: false,
      });
      expect(b.rows).toBe(n * fx.k);
      expect(b.seq).toBe(c.seq);
      expect([...b.ids]).toEqual(c.ids);
      expect([...b.typeIds]).toEqual(c.segment_ids);
      expect([...b.mask]).toEqual(c.mask);
    },
  );

  it('the quirks are in the fixture: padding between context and candidate, type 1 from max_context_length on', () => {
    const c = fx.cases.find((x) => x.max_context_length === ctxLen && x.seq === ctxLen + candLen - 1)!;
    // Mention 1 has empty contexts: zeros from its [SEP] to the window's end, then the candidate.
    const row = c.ids.slice(fx.k * c.seq, fx.k * c.seq + c.seq);
    expect(row[ctxLen - 1]).toBe(0);
    expect(row[ctxLen]).not.toBe(0);
    const types = c.segment_ids.slice(fx.k * c.seq, fx.k * c.seq + c.seq);
    expect(types.slice(0, ctxLen).every((t) => t === 0)).toBe(true);
    expect(types[ctxLen]).toBe(1);
  });

  it('trimming the trailing padding keeps every row a prefix of the untrimmed one', () => {
    // One mention, a context window of 4 (1 padding) and two candidate windows of 5.
    const c = Int32Array.from([101, 5, 102, 0]);
    const k2 = Int32Array.from([101, 7, 102, 0, 0, 101, 8, 9, 102, 0]);
    const o = { maxSeqLength: 64, maxContextLength: 4 };
    const full = pairInputs(c, 4, k2, 5, 1, 2, { ...o, trim: false });
    expect([...full.ids]).toEqual([101, 5, 102, 0, 7, 102, 0, 0, 101, 5, 102, 0, 8, 9, 102, 0]);
    const cut = pairInputs(c, 4, k2, 5, 1, 2, o);
    expect(cut.seq).toBe(7);
    expect([...cut.ids]).toEqual([101, 5, 102, 0, 7, 102, 0, 101, 5, 102, 0, 8, 9, 102]);
    expect([...cut.typeIds]).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect([...cut.mask]).toEqual([1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1]);
  });

  it('refuses inconsistent arrays', () => {
    expect(() => joinPairs(contexts, ctxLen, candidates, candLen, n, fx.k + 1, 10)).toThrow(/candidates hold/);
    expect(() => joinPairs(contexts, ctxLen, candidates, candLen, n, fx.k, 0)).toThrow(/max_seq_length/);
    expect(() => toBertInput(new Int32Array(5), 2, 3, 1)).toThrow(/expected 2 x 3/);
  });
});

describe('cross-encoder inputs: the original .t7 candidate files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-cross-t7-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads torch.save({context_vecs, candidate_vecs, labels}) as saved by the original', () => {
    const s = openT7(join(FIX, 'val.t7'));
    expect([s.count, s.k, s.ctxLen, s.candLen, s.totalMentions]).toEqual([n, fx.k, ctxLen, candLen, null]);
    expect([...s.labels]).toEqual(fx.labels);
    const r = s.read([2, 0]);
    expect([...r.contexts]).toEqual([...contexts.subarray(2 * ctxLen, 3 * ctxLen), ...contexts.subarray(0, ctxLen)]);
    const per = fx.k * candLen;
    expect([...r.candidates]).toEqual([...candidates.subarray(2 * per, 3 * per), ...candidates.subarray(0, per)]);
  });

  const write = (name: string, labels: number[], o: { ctxRows?: number; ids?: number } = {}): string => {
    const p = join(dir, name);
    const rows = o.ctxRows ?? n;
    const ctx = contexts.slice(0, rows * ctxLen);
    if (o.ids !== undefined) ctx[1] = o.ids;
    writeTorchSave(
      p,
      torchDict([
        ['context_vecs', { shape: [rows, ctxLen], data: ctx }],
        ['candidate_vecs', { shape: [n, fx.k, candLen], data: candidates }],
        ['labels', { shape: [labels.length], data: Int32Array.from(labels) }],
      ]),
    );
    return p;
  };

  it('drops mentions labelled -1 (gold not among the candidates, keep_all=False)', () => {
    const s = openT7(write('drop.t7', [0, -1, 2]));
    expect(s.count).toBe(2);
    expect([...s.labels]).toEqual([0, 2]);
    expect([...s.read([1]).contexts]).toEqual([...contexts.subarray(2 * ctxLen, 3 * ctxLen)]);
  });

  it.each([
    ['a label outside 0..k-1', () => write('bad-label.t7', [0, 3, 1]), /labels\[1\] = 3 is outside 0\.\.2/],
    ['counts that disagree', () => write('bad-count.t7', [0, 1, 1], { ctxRows: 2 }), /context_vecs has 2 rows, candidate_vecs 3/],
    ['an id outside the vocabulary', () => write('bad-id.t7', [0, 1, 1], { ids: 99999 }), /token id 99999 at element 1 is outside/],
  ])('refuses %s, naming the file', (_n, make, re) => {
    const p = make();
    const err = (() => {
      try {
        openT7(p, { vocabSize: 5353 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(p);
    expect((err as Error).message).toMatch(re);
  });
});
