// The device-side collectives of a data-parallel run on GPUs: an NCCL communicator over the same
// ranks as a host Communicator, which carries NCCL's unique id from rank 0 to the others (the way
// Horovod and torch.distributed bootstrap NCCL). libnccl is loaded at run time by the addon.
import { ArgumentError } from '../errors.js';
import { ncclBinding, type NativeTensor, type NcclBinding } from '../native.js';
import type { Communicator } from './communicator.js';
import { CommunicatorUnavailableError } from './errors.js';

export class NcclCommunicator {
  private handle: number;

  private constructor(
    private readonly n: NcclBinding,
    handle: number,
    readonly rank: number,
    readonly size: number,
    /** The libnccl file and its version. */
    readonly library: string,
  ) {
    this.handle = handle;
  }

  /** Whether libnccl can be loaded here, and if not why (what was tried). */
  static available(): { available: boolean; library: string; version: string; reason: string } {
    return ncclBinding().ncclAvailable();
  }

  /**
   * Joins every rank of `comm` into one NCCL communicator (collective: every rank calls it). Throws
   * CommunicatorUnavailableError when libnccl cannot be loaded (on any rank: they agree first, so
   * none waits for an id that never comes).
   */
  static open(comm: Communicator): NcclCommunicator {
    const n = ncclBinding();
    const have = n.ncclAvailable();
    const ok = new Float64Array([have.available ? 1 : 0]);
    comm.allreduceSum(ok);
    if (!have.available) throw new CommunicatorUnavailableError('nccl', `NCCL cannot be used on rank ${comm.rank}: ${have.reason}`);
    if (ok[0] !== comm.size)
      throw new CommunicatorUnavailableError('nccl', `NCCL cannot be used on ${comm.size - ok[0]!} of the ${comm.size} ranks`);
    const id = comm.rank === 0 ? n.ncclUniqueId() : new Uint8Array(128);
    comm.broadcast(id, 0);
    const handle = n.ncclInit(id, comm.rank, comm.size);
    return new NcclCommunicator(n, handle, comm.rank, comm.size, `${have.library} (NCCL ${have.version})`);
  }

  /** The communicator's handle for a BERT backward's gradient buckets (GradAllreduce.nccl). */
  get bucketHandle(): number {
    if (this.handle === 0) throw new ArgumentError('NcclCommunicator: disposed');
    return this.handle;
  }

  /** The mean over the ranks of a CUDA tensor (f32 or bf16), in place, on the engine's stream. */
  allreduceMean(t: NativeTensor): void {
    this.reduce(t, true);
  }

  /** The sum over the ranks of a CUDA tensor (f32 or bf16), in place, on the engine's stream. */
  allreduceSum(t: NativeTensor): void {
    this.reduce(t, false);
  }

  private reduce(t: NativeTensor, average: boolean): void {
    if (this.handle === 0) throw new ArgumentError('NcclCommunicator: disposed');
    this.n.ncclAllreduce(this.handle, t, average);
  }

  dispose(): void {
    if (this.handle !== 0) this.n.ncclDestroy(this.handle);
    this.handle = 0;
  }
}
