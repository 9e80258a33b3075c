// The fuzz suite's fixed-seed run (issue 16, "What to build" 2): every reader and the native entry
// points (every op, Tensor, BertModel) get their targets' cases (a few thousand in all) in child
// processes with a 1 GiB heap and a time limit, so a crash, a hang or an out-of-memory fails this
// test with the target and seed rather than killing the runner. Longer runs with fresh seeds:
// `npm run fuzz -- --seconds N`.
import { describe, expect, it } from 'vitest';
import { OP_NAMES } from '../../src/engine-ops.js';
import { FUZZED_OPS, NATIVE_TARGETS } from './native-targets.js';
import { runChild } from './run.js';
import { CHECKPOINT_TARGETS, TEXT_TARGETS } from './targets.js';

const SEED = 16;

describe('fuzz (fixed seed)', () => {
  for (const [group, targets] of [
    ['checkpoint', CHECKPOINT_TARGETS],
    ['text', TEXT_TARGETS],
    ['native', NATIVE_TARGETS],
  ] as const) {
    it(`${group} ${group === 'native' ? 'entry points' : 'readers'}: ${targets.reduce((a, t) => a + t.runs, 0)} cases end in a result or a typed error, none crashes or hangs`, {
      timeout: 150_000,
    }, () => {
      const o = runChild(['--group', group, '--seed', String(SEED)], 120_000);
      expect(o.crash, o.crash).toBeUndefined();
      expect(o.failures, o.failures.join('\n\n')).toEqual([]);
      expect(o.results.map((r) => r.target)).toEqual(targets.map((t) => t.name));
      for (const r of o.results) {
        expect(r.runs).toBe(targets.find((t) => t.name === r.target)!.runs);
        // Every target sees both outcomes: the mutations reach past the first check.
        expect(r.refused, `${r.target} refused nothing`).toBeGreaterThan(0);
      }
    });
  }

  it('the native op target calls every op of the engine (the op list of native/ops.h, and topkAsync)', () => {
    expect(new Set(FUZZED_OPS())).toEqual(new Set([...OP_NAMES, 'topkAsync']));
  });
});
