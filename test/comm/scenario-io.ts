// The data-parallel scenarios' side of test/comm/rank-runs.ts: a stop that rank 1 alone sees after
// some polls, the marker of a stopped rank, and each rank's flat parameters and result JSON.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Communicator } from '../../src/comm/communicator.js';
import { AbortError } from '../../src/errors.js';
import type { ParamPart } from '../../src/models/biencoder.js';
import type { StopSource } from '../../src/train/interrupt.js';

/** Requested on rank 1 only, at its `afterPolls`-th poll (never when undefined); saves, then stops. */
export function rank1Stop(comm: Communicator, afterPolls: number | undefined): StopSource {
  let polls = 0;
  return {
    get requested() {
      return comm.rank === 1 && afterPolls !== undefined && ++polls >= afterPolls;
    },
    checkpointIfRequested: async (save, hint) => {
      await save();
      throw new AbortError('stopped by the scenario', hint);
    },
  };
}

/** <out>/stopped.rank<r>.json: this rank ended on a stop. */
export function writeStopped(out: string, comm: Communicator): void {
  writeFileSync(join(out, `stopped.rank${comm.rank}.json`), JSON.stringify({ rank: comm.rank }));
}

/** <out>/params.rank<r>.f32 (the parts' parameters end to end) and <out>/result.rank<r>.json. */
export function writeRankOutputs(out: string, comm: Communicator, parts: readonly ParamPart[], result: Record<string, unknown>): void {
  const host = parts.map((p) => p.params.download() as Float32Array);
  const all = new Float32Array(host.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of host) {
    all.set(p, at);
    at += p.length;
  }
  writeFileSync(join(out, `params.rank${comm.rank}.f32`), Buffer.from(all.buffer));
  writeFileSync(
    join(out, `result.rank${comm.rank}.json`),
    JSON.stringify({ rank: comm.rank, size: comm.size, backend: comm.backend, ...result }),
  );
}
