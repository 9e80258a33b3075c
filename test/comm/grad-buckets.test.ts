// The gradient buckets' arguments (native/comm/grad_buckets.h through BertModel.backward and
// allreduceGradients), checked before any collective: the sums themselves are tested under
// mpirun (data-parallel.test.ts) and, for NCCL, on a GPU (nccl.test.ts).
import { describe, expect, it } from 'vitest';

import { Communicator } from '../../src/comm/communicator.js';
import { ArgumentError } from '../../src/errors.js';
import { Bert } from '../../src/models/bert.js';

describe('gradient buckets: arguments', () => {
  const bert = new Bert({ vocabSize: 32, hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32, maxPositions: 8 }, 'cpu');
  const ids = new Int32Array(2 * 4).fill(3);

  it('refuses a bucket under one element, a missing size, and an NCCL handle for a host model', () => {
    const cases: [unknown, RegExp][] = [
      [{ bucketElements: 0 }, /bucketElements must be at least 1/],
      [{}, /bucketElements is required/],
      [{ bucketElements: 8, nccl: 1 }, /allreduce.nccl is for a CUDA model/],
    ];
    for (const [allreduce, msg] of cases) {
      const o = { allreduce } as Parameters<Bert['allreduceGradients']>[0];
      expect(() => bert.allreduceGradients(o)).toThrow(ArgumentError);
      expect(() => bert.allreduceGradients(o)).toThrow(msg);
      const out = bert.forward({ inputIds: ids, batch: 2, seq: 4 });
      expect(() => bert.backward({ dLastHidden: out.lastHidden! }, o)).toThrow(msg);
    }
  });

  it('a backward without the option returns nothing and all-reduces nothing', () => {
    const out = bert.forward({ inputIds: ids, batch: 2, seq: 4 });
    expect(bert.backward({ dLastHidden: out.lastHidden! })).toBeUndefined();
  });
});

describe('Communicator.hold', () => {
  it('refuses every collective while held (a bucket in flight would pair with it), until released', () => {
    const c = Communicator.single();
    c.hold('buckets are on their way');
    const calls: [string, () => unknown][] = [
      ['allreduceSum', () => c.allreduceSum(new Float64Array(1))],
      ['allreduceMax', () => c.allreduceMax(new Float64Array(1))],
      ['allreduceMean', () => c.allreduceMean(new Float32Array(1))],
      ['allgather', () => c.allgather(new Float32Array(1))],
      ['broadcast', () => c.broadcast(new Float32Array(1))],
      ['barrier', () => c.barrier()],
    ];
    for (const [name, call] of calls) expect(call, name).toThrow(`Communicator.${name} while buckets are on their way`);
    c.release();
    for (const [name, call] of calls) expect(call, name).not.toThrow();
  });
});
