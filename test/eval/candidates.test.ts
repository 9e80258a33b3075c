import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyMissingGoldRule,
  candidateFilePath,
  decodeCandidateFile,
  defaultMissingGoldRule,
  encodeCandidateFile,
  readCandidateFile,
  writeCandidateFile,
} from '../../src/eval/candidates.js';

// 3 mentions, top-3: gold of mention 0 at position 1, mention 1 missing, mention 2 at position 0.
const topk = Int32Array.from([10, 11, 12, /**/ 20, 21, 22, /**/ 30, 31, 32]);
const gold = Int32Array.from([11, 99, 30]);

describe('missing-gold rule', () => {
  it('drop (eval modes, the original default): the mention disappears', () => {
    const r = applyMissingGoldRule(topk, 3, gold, 'drop');
    expect(Array.from(r.positions)).toEqual([1, -1, 0]);
    expect(r.dropped).toBe(1);
    expect(Array.from(r.rows.mention)).toEqual([0, 2]);
    expect(Array.from(r.rows.goldPos)).toEqual([1, 0]);
    expect(Array.from(r.rows.candidates)).toEqual([10, 11, 12, 30, 31, 32]);
  });

  it('insert (train): gold at position 0, the last retrieved candidate falls off', () => {
    const r = applyMissingGoldRule(topk, 3, gold, 'insert', { mentionRows: Int32Array.from([7, 8, 9]) });
    expect([r.dropped, r.inserted]).toEqual([0, 1]);
    expect(Array.from(r.rows.mention)).toEqual([7, 8, 9]);
    expect(Array.from(r.rows.gold)).toEqual([11, 99, 30]);
    expect(Array.from(r.rows.goldPos)).toEqual([1, 0, 0]);
    expect(Array.from(r.rows.candidates)).toEqual([10, 11, 12, 99, 20, 21, 30, 31, 32]);
  });

  it('defaults: insert for train, drop for the rest', () => {
    expect(['train', 'valid', 'test', 'test_seen', 'test_unseen'].map(defaultMissingGoldRule)).toEqual([
      'insert',
      'drop',
      'drop',
      'drop',
      'drop',
    ]);
  });

  it('carries features of kept rows', () => {
    const f = Float32Array.from([0.5, 1, /**/ 2, 3, /**/ 4, 5]);
    const r = applyMissingGoldRule(topk, 3, gold, 'drop', { features: f, featureDim: 2 });
    expect(Array.from(r.rows.features!)).toEqual([0.5, 1, 4, 5]);
  });
});

describe('candidate files', () => {
  it('paths follow the original folder, valid written as val', () => {
    expect(candidateFilePath('out', 64, 'valid')).toBe(join('out', 'top64_candidates', 'val.topk'));
    expect(candidateFilePath('out', 64, 'test_unseen')).toBe(join('out', 'top64_candidates', 'test_unseen.topk'));
  });

  it('round-trips through an atomic write, with header counts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'biofeg-topk-'));
    const path = candidateFilePath(dir, 3, 'train');
    const r = applyMissingGoldRule(topk, 3, gold, 'insert', { features: Float32Array.from([1, 2, 3]), featureDim: 1 });
    const h = writeCandidateFile(path, 'train', 3, 'insert', r, { featureDim: 1, source: { model: 'abc' } });
    expect(h).toMatchObject({ count: 3, totalMentions: 3, inserted: 1, dropped: 0, missingGold: 'insert', featureDim: 1 });
    const back = readCandidateFile(path);
    expect(back.header).toEqual(h);
    expect(Array.from(back.rows.candidates)).toEqual(Array.from(r.rows.candidates));
    expect(Array.from(back.rows.goldPos)).toEqual([1, 0, 0]);
    expect(Array.from(back.rows.features!)).toEqual([1, 2, 3]);
    expect(readdirSync(join(dir, 'top3_candidates'))).toEqual(['train.topk']);
    // Layout: 8 magic + 4 length + JSON, padded to 8, then 3*3 + 9 int32 + 3 float32.
    const bytes = readFileSync(path);
    const jl = bytes.readUInt32LE(8);
    expect(bytes.length).toBe(Math.ceil((12 + jl) / 8) * 8 + 4 * (9 + 9 + 3));
    expect(bytes.subarray(0, 8).toString('ascii')).toBe('BFTOPK01');
  });

  it('rejects a truncated file, a wrong magic and a gold position that does not hold the gold', () => {
    const r = applyMissingGoldRule(topk, 3, gold, 'drop');
    const header = {
      format: 'biofeg-topk' as const,
      version: 1,
      mode: 'test',
      topK: 3,
      count: 2,
      totalMentions: 3,
      missingGold: 'drop' as const,
      dropped: 1,
      inserted: 0,
      featureDim: 0,
    };
    const bytes = encodeCandidateFile({ header, rows: r.rows });
    const dir = mkdtempSync(join(tmpdir(), 'biofeg-topk-'));
    const p = join(dir, 'bad.topk');
    writeFileSync(p, bytes.subarray(0, bytes.length - 4));
    expect(() => readCandidateFile(p)).toThrow(new RegExp(`^${p}: expected \\d+ bytes for 2 rows of top-3, found \\d+`));
    expect(() => decodeCandidateFile(new Uint8Array(20), 'x.topk')).toThrow(/^x.topk: expected a biofeg top-k candidate file/);
    const wrong = { ...r.rows, goldPos: Int32Array.from([2, 0]) };
    expect(() => encodeCandidateFile({ header, rows: wrong })).toThrow(/row 0: candidate at gold position 2 is 12, not the gold 11/);
  });
});
