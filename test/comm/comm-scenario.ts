// A process of test/comm/communicator.test.ts: opens the run's communicator as a training stage
// does and prints one JSON line: what it got (or the error), whether libmpi is mapped into the
// process, and with mode 'collectives' the results of each collective on rank-dependent inputs.
//   [mpirun -np N] node --import tsx test/comm/comm-scenario.ts open|collectives|abort
import { readFileSync } from 'node:fs';

import { Communicator } from '../../src/comm/communicator.js';
import { tensor } from '../../src/native.js';

const libmpiMapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libmpi');
const mode = process.argv[2] ?? 'open';
let c: Communicator;
try {
  c = Communicator.open();
} catch (e) {
  const err = e as Error & { code?: string; library?: string };
  console.log(
    JSON.stringify({ error: { name: err.name, code: err.code, library: err.library, message: err.message }, libmpiMapped: libmpiMapped() }),
  );
  process.exit(0);
}
const out: Record<string, unknown> = { rank: c.rank, size: c.size, backend: c.backend, libmpiMapped: libmpiMapped() };
if (mode === 'collectives') {
  const r = c.rank;
  const mean = new Float32Array([r, 10 * r, 1]);
  c.allreduceMean(mean);
  const t = tensor('cpu', 'f32', [2], new Float32Array([r + 1, -r]));
  c.allreduceMean(t);
  const sum = tensor('cpu', 'f32', [2], new Float32Array([r + 1, 2]));
  c.allreduceSumTensor(sum);
  const max = new Float64Array([r, -r]);
  c.allreduceMax(max);
  const b = new Int32Array([r === 1 ? 7 : 0, r]);
  c.broadcast(b, c.size > 1 ? 1 : 0);
  c.barrier();
  Object.assign(out, {
    mean: [...mean],
    tensorMean: [...(t.download() as Float32Array)],
    tensorSum: [...(sum.download() as Float32Array)],
    max: [...max],
    gathered: [...c.allgather(new Float32Array([r, r + 0.5]))],
    broadcast: [...b],
  });
}
if (mode === 'abort') {
  // Rank 0 fails alone; rank 1 waits in a collective that rank 0 never joins.
  if (c.rank === 0) c.abortJob('rank 0 failed alone (the scenario)');
  else c.barrier();
}
console.log(JSON.stringify(out));
