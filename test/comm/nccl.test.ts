// NCCL through the run-time loaded libnccl (native/comm/nccl_loader): without it a clear typed
// error; with a GPU and libnccl a single-rank communicator all-reduces a device buffer (f32, bf16);
// with 2 GPUs, mpirun -np 2 ranks reduce rank-dependent buffers. The GPU cases skip with the
// reason printed where the hardware or the library is missing.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Communicator } from '../../src/comm/communicator.js';
import { CommunicatorUnavailableError } from '../../src/comm/errors.js';
import { NcclCommunicator } from '../../src/comm/nccl.js';
import { ArgumentError } from '../../src/errors.js';
import { Bert, type BackwardOptions } from '../../src/models/bert.js';
import { initBertParams } from '../../src/models/init.js';
import { engineInfo, ncclBinding, tensor } from '../../src/native.js';
import { ROOT } from '../eval/retrieve-helpers.js';

const have = NcclCommunicator.available();
const gpus = engineInfo().cudaDevices;
const real = gpus > 0 && !engineInfo().cudaDevice.startsWith('cuemu');
const haveMpirun = spawnSync('mpirun', ['--version']).status === 0;
if (!have.available) console.log(`NCCL GPU tests skipped: ${have.reason}`);
else if (!real) console.log(`NCCL GPU tests skipped: no CUDA device (${engineInfo().cudaDevice})`);
if (have.available && real && (gpus < 2 || !haveMpirun))
  console.log(`the 2-GPU NCCL test skipped: ${gpus} GPU(s), mpirun ${haveMpirun ? 'found' : 'absent'}`);

describe('NCCL', () => {
  it.skipIf(have.available)('without libnccl: CommunicatorUnavailableError saying what was tried', () => {
    expect(have.reason).toMatch(/libnccl/);
    let err: unknown;
    try {
      NcclCommunicator.open(Communicator.single());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CommunicatorUnavailableError);
    expect(err).toMatchObject({ code: 'ERR_BIOFEG_DEVICE', library: 'nccl' });
    expect((err as Error).message).toMatch(/NCCL cannot be used on rank 0: libnccl/);
  });

  it('refuses a host tensor before touching NCCL', () => {
    const t = tensor('cpu', 'f32', [2]);
    expect(() => ncclBinding().ncclAllreduce(1, t, false)).toThrow(ArgumentError);
    expect(() => ncclBinding().ncclAllreduce(1, t, false)).toThrow(/is on cpu; NCCL reduces CUDA tensors/);
    expect(() => ncclBinding().ncclInit(new Uint8Array(12), 0, 1)).toThrow(/128/);
  });

  it.skipIf(!have.available || !real)('a single-rank communicator all-reduces device buffers (f32, bf16) to themselves', () => {
    const nccl = NcclCommunicator.open(Communicator.single());
    for (const dtype of ['f32', 'bf16'] as const) {
      const v = new Float32Array([1.5, -2, 0.25, 1024]);
      const t = tensor('cuda', dtype, [4], v);
      nccl.allreduceSum(t);
      expect([...(t.download() as Float32Array)]).toEqual([...v]);
      nccl.allreduceMean(t);
      expect([...(t.download() as Float32Array)]).toEqual([...v]);
    }
    nccl.dispose();
    expect(() => nccl.allreduceSum(tensor('cuda', 'f32', [1]))).toThrow(/disposed/);
  });

  it.skipIf(!have.available || !real)(
    "gradient buckets over NCCL on the side stream: a single rank gets the plain backward's gradients, buckets sent during it",
    () => {
      const nccl = NcclCommunicator.open(Communicator.single());
      const config = {
        vocabSize: 64,
        hiddenSize: 32,
        numLayers: 3,
        numHeads: 2,
        intermediateSize: 64,
        maxPositions: 16,
        hiddenDropout: 0,
        attentionDropout: 0,
      };
      const bert = new Bert(config, 'cuda');
      bert.parameters().upload(initBertParams(bert.layout, bert.numParameters, 5));
      const ids = Int32Array.from({ length: 4 * 8 }, (_, i) => (i * 7) % 64);
      const grads = (o?: BackwardOptions) => {
        bert.zeroGrad();
        const out = bert.forward({ inputIds: ids, batch: 4, seq: 8 });
        const st = bert.backward({ dLastHidden: out.lastHidden! }, o);
        return { g: bert.gradients().download() as Float32Array, st };
      };
      const plain = grads();
      // A layer is 8,544 floats, the pooler 1,056, the embeddings 2,688: buckets of 4,096 send the
      // pooler with the last layer, then each layer during the backward, then the embeddings.
      const bucketed = grads({ allreduce: { bucketElements: 4096, nccl: nccl.bucketHandle } });
      expect(bucketed.st).toEqual({ buckets: 4, overlapped: 3 });
      expect(Buffer.from(bucketed.g.buffer).equals(Buffer.from(plain.g.buffer))).toBe(true);
      bert.zeroGrad();
      expect(bert.allreduceGradients({ allreduce: { bucketElements: 4096, nccl: nccl.bucketHandle } })).toEqual({
        buckets: 4,
        overlapped: 3,
      });
      expect(() => bert.allreduceGradients({ allreduce: { bucketElements: 4096 } })).toThrow(/NCCL: give allreduce.nccl/);
      nccl.dispose();
    },
  );

  it.skipIf(!have.available || !real || gpus < 2 || !haveMpirun)('mpirun -np 2 on 2 GPUs: sums and means of rank-dependent buffers', () => {
    const cmd = `CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK exec ${process.execPath} --import tsx ${join(ROOT, 'test', 'comm', 'nccl-scenario.ts')}`;
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', 'sh', '-c', cmd], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const o of lines)
      for (const dtype of ['f32', 'bf16'])
        expect(o[dtype]).toEqual({
          sum: [3, 1, -1],
          mean: [1, 4],
        });
  });
});
