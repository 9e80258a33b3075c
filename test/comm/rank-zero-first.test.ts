// rankZeroFirst / rankZeroOnly: rank 0's outcome reaches every rank (a fake communicator whose
// broadcast hands each rank what rank 0 sent), so no rank waits in a collective that never comes.
import { describe, expect, it } from 'vitest';

import { type RankZeroComm, rankZeroFirst, rankZeroOnly } from '../../src/comm/rank-zero-first.js';

/** Two ranks' views of one broadcast channel: rank 0's broadcast is recorded, rank 1's receives it. */
function pair(): [RankZeroComm, RankZeroComm] {
  const sent: Float64Array[] = [];
  const comm = (rank: number): RankZeroComm => ({
    rank,
    size: 2,
    broadcast(buf) {
      if (rank === 0) sent.push(Float64Array.from(buf as Float64Array));
      else (buf as Float64Array).set(sent.shift()!);
    },
  });
  return [comm(0), comm(1)];
}

describe('rankZeroFirst', () => {
  it('runs open on rank 0 first, then on the others', async () => {
    const [r0, r1] = pair();
    const order: number[] = [];
    expect(await rankZeroFirst(r0, async () => (order.push(0), 'a'))).toBe('a');
    expect(await rankZeroFirst(r1, async () => (order.push(1), 'b'))).toBe('b');
    expect(order).toEqual([0, 1]);
  });
  it("rethrows rank 0's error there, and the others throw without opening", async () => {
    const [r0, r1] = pair();
    await expect(rankZeroFirst(r0, () => Promise.reject(new Error('bad file')))).rejects.toThrow('bad file');
    let opened = false;
    await expect(rankZeroFirst(r1, async () => (opened = true))).rejects.toThrow(
      'rank 1: rank 0 could not open the data (its error ends the run)',
    );
    expect(opened).toBe(false);
  });
  it('a single process just opens', async () => {
    const solo: RankZeroComm = { rank: 0, size: 1, broadcast: () => expect.fail('no collective on one process') };
    expect(await rankZeroFirst(solo, async () => 7)).toBe(7);
  });
});

describe('rankZeroOnly', () => {
  it('writes on rank 0 alone', () => {
    const [r0, r1] = pair();
    const wrote: number[] = [];
    rankZeroOnly(r0, 'write it', () => wrote.push(0));
    rankZeroOnly(r1, 'write it', () => wrote.push(1));
    expect(wrote).toEqual([0]);
  });
  it('a failed write throws on every rank, naming what rank 0 could not do', () => {
    const [r0, r1] = pair();
    expect(() =>
      rankZeroOnly(r0, "write the entity pool's disk cache", () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(() => rankZeroOnly(r1, "write the entity pool's disk cache", () => {})).toThrow(
      "rank 1: rank 0 could not write the entity pool's disk cache (its error ends the run)",
    );
  });
});
