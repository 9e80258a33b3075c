// A rank of test/comm/nccl.test.ts's multi-GPU case: joins an NCCL communicator over MPI and
// prints one JSON line with the all-reduced (sum and mean) values of rank-dependent CUDA tensors.
//   mpirun -np N sh -c 'CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK exec node --import tsx test/comm/nccl-scenario.ts'
import { Communicator } from '../../src/comm/communicator.js';
import { NcclCommunicator } from '../../src/comm/nccl.js';
import { tensor } from '../../src/native.js';

const comm = Communicator.open({ require: 'mpi' });
const nccl = NcclCommunicator.open(comm);
const out: Record<string, unknown> = { rank: comm.rank, size: comm.size };
for (const dtype of ['f32', 'bf16'] as const) {
  const sum = tensor('cuda', dtype, [3], new Float32Array([comm.rank + 1, 0.5, -comm.rank]));
  nccl.allreduceSum(sum);
  const mean = tensor('cuda', dtype, [2], new Float32Array([2 * comm.rank, 4]));
  nccl.allreduceMean(mean);
  out[dtype] = { sum: [...(sum.download() as Float32Array)], mean: [...(mean.download() as Float32Array)] };
}
nccl.dispose();
console.log(JSON.stringify(out));
