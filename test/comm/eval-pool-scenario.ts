// One rank of test/comm/eval-parallel.test.ts: encodes the entity pool of a tiny random bi-encoder
// (the same seed on every rank) once per job, through the communicator when it has several ranks,
// retrieves the test mentions against it and writes <out>/<job>.rank<r>.f32 (the pool's values as
// f32) and <out>/<job>.rank<r>.json (where the pool came from, the top-k and recall).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Communicator } from '../../src/comm/communicator.js';
import { encodeEntityPool, type PoolDType } from '../../src/eval/entity-pool.js';
import { recallReport } from '../../src/eval/recall.js';
import { retrieve } from '../../src/eval/retrieve.js';
import { caches, tinyModel } from '../eval/retrieve-helpers.js';

export interface PoolJob {
  name: string;
  batch: number;
  dtype: PoolDType;
  /** The disk cache's folder: one for all ranks, or (perRank) <cacheDir>/rank<r>, as on nodes that share no folder. */
  cacheDir?: string;
  perRank?: boolean;
}

const a = JSON.parse(process.argv[2] ?? '{}') as { processed: string; entities: string; out: string; topK: number; jobs: PoolJob[] };
const comm = Communicator.open();
const data = await caches(a.processed, a.entities, 'test');
const model = tinyModel(3);
for (const job of a.jobs) {
  const cacheDir = job.cacheDir !== undefined && job.perRank ? join(job.cacheDir, `rank${comm.rank}`) : job.cacheDir;
  if (cacheDir !== undefined) mkdirSync(cacheDir, { recursive: true });
  const pool = await encodeEntityPool(model, data.entities, {
    batchSize: job.batch,
    dtype: job.dtype,
    ...(cacheDir !== undefined ? { cacheDir } : {}),
    comm,
  });
  const found = await retrieve(model, data.mentions, pool, { topK: a.topK, batchSize: 8 });
  const values = pool.tensor.download() as Float32Array;
  writeFileSync(join(a.out, `${job.name}.rank${comm.rank}.f32`), values);
  writeFileSync(
    join(a.out, `${job.name}.rank${comm.rank}.json`),
    JSON.stringify({
      size: comm.size,
      rows: pool.rows,
      dtype: pool.dtype,
      fromCache: pool.fromCache,
      cachePath: pool.cachePath ?? null,
      indices: Array.from(found.indices),
      recall: recallReport('test', a.topK, found.positions).recall,
    }),
  );
  pool.dispose();
}
