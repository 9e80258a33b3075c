// A typed communicator over the ranks of one run: a single process (no library loaded), or MPI's
// COMM_WORLD through the addon's run-time loaded libmpi. Collectives are blocking and must be
// called by every rank in the same order (MPI's rule); host arrays are reduced in place.
import { ArgumentError } from '../errors.js';
import { mpiBinding, type MpiBinding, type NativeTensor } from '../native.js';
import { CommunicatorUnavailableError } from './errors.js';
import { launchInfo } from './launch.js';

type Reducible = Float32Array | Float64Array;

/** The collectives one backend provides (a single process: every one is the identity). */
interface Transport {
  sum(a: Reducible): void;
  max(a: Float64Array): void;
  gather(send: ArrayBufferView, recv: ArrayBufferView): void;
  broadcast(a: ArrayBufferView, root: number): void;
  barrier(): void;
  abort(code: number): void;
}

const SINGLE: Transport = {
  sum: () => {},
  max: () => {},
  gather: (send, recv) =>
    new Uint8Array(recv.buffer, recv.byteOffset, recv.byteLength).set(new Uint8Array(send.buffer, send.byteOffset, send.byteLength)),
  broadcast: () => {},
  barrier: () => {},
  abort: () => {},
};

function mpiTransport(m: MpiBinding): Transport {
  return {
    sum: (a) => m.mpiAllreduceSum(a),
    max: (a) => m.mpiAllreduceMax(a),
    gather: (s, r) => m.mpiAllgather(s, r),
    broadcast: (a, root) => m.mpiBroadcast(a, root),
    barrier: () => m.mpiBarrier(),
    abort: (code) => m.mpiAbort(code),
  };
}

export class Communicator {
  /** Why no collective may run now (a step's gradient buckets started on this rank), or undefined. */
  private held: string | undefined;

  private constructor(
    /** This process's rank, 0..size-1. Rank 0 writes checkpoints and logs. */
    readonly rank: number,
    /** Number of ranks. */
    readonly size: number,
    /** 'single' (no library) or 'mpi'. */
    readonly backend: 'single' | 'mpi',
    /** The communication library's file ('' for a single process). */
    readonly library: string,
    private readonly t: Transport,
  ) {}

  /** The communicator of a process that runs alone; loads nothing. */
  static single(): Communicator {
    return new Communicator(0, 1, 'single', '', SINGLE);
  }

  /**
   * The run's communicator: MPI's COMM_WORLD when a launcher (mpirun) started more than one rank,
   * else {@link Communicator.single} without loading libmpi. `require: 'mpi'` uses MPI even for one
   * rank (tests, a one-rank mpirun). Throws CommunicatorUnavailableError when MPI is needed but
   * libmpi cannot be loaded or does not agree with the launcher.
   */
  static open(o: { env?: NodeJS.ProcessEnv; require?: 'mpi' } = {}): Communicator {
    const launch = launchInfo(o.env ?? process.env);
    if (launch.size <= 1 && o.require !== 'mpi') return Communicator.single();
    const m = mpiBinding();
    const have = m.mpiAvailable();
    if (!have.available)
      throw new CommunicatorUnavailableError(
        'mpi',
        `${launch.size} ranks were asked for (${launch.launcher === 'none' ? 'MPI required' : `launched by ${launch.launcher}`}) but MPI cannot be used: ${have.reason}`,
      );
    let w: { rank: number; size: number; library: string };
    try {
      w = m.mpiInit();
    } catch (e) {
      throw new CommunicatorUnavailableError('mpi', `MPI_Init failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (launch.launcher !== 'none' && (w.size !== launch.size || w.rank !== launch.rank))
      throw new CommunicatorUnavailableError(
        'mpi',
        `MPI says rank ${w.rank} of ${w.size}, the launcher rank ${launch.rank} of ${launch.size}: ${w.library} is not the launcher's MPI (BIOFEG_MPI names another libmpi?)`,
      );
    return new Communicator(w.rank, w.size, 'mpi', w.library, mpiTransport(m));
  }

  /**
   * Refuses every collective until {@link release}: set while a step's gradient buckets are on
   * their way (comm/grad-overlap.ts), when a rank without rows sends the same buckets only later.
   * MPI matches collectives by order, so a collective in between would pair with a bucket on the
   * other ranks: a hang or wrong sums. Refused here, it is an error that ends the job instead.
   */
  hold(reason: string): void {
    this.held = reason;
  }

  release(): void {
    this.held = undefined;
  }

  private ready(what: string): void {
    if (this.held !== undefined) throw new Error(`Communicator.${what} while ${this.held}`);
  }

  /** Every rank ends with the element-wise sum, in place. */
  allreduceSum(a: Reducible): void {
    this.ready('allreduceSum');
    if (this.size > 1) this.t.sum(a);
  }

  /** Every rank ends with the element-wise maximum, in place. */
  allreduceMax(a: Float64Array): void {
    this.ready('allreduceMax');
    if (this.size > 1) this.t.max(a);
  }

  /**
   * Every rank ends with the element-wise mean, in place: a host array, or an f32 tensor on any
   * device (staged through host memory; a device tensor's collective on GPUs is NCCL's).
   */
  allreduceMean(a: Float32Array | NativeTensor): void {
    this.ready('allreduceMean');
    if (this.size === 1) return;
    if (a instanceof Float32Array) {
      this.t.sum(a);
      for (let i = 0; i < a.length; i++) a[i] = a[i]! / this.size;
      return;
    }
    const host = hostF32(a, 'allreduceMean');
    this.allreduceMean(host);
    a.upload(host);
  }

  /** A tensor's element-wise sum over the ranks, in place (f32; staged through host memory). */
  allreduceSumTensor(a: NativeTensor): void {
    this.ready('allreduceSumTensor');
    if (this.size === 1) return;
    const host = hostF32(a, 'allreduceSumTensor');
    this.t.sum(host);
    a.upload(host);
  }

  /** Every rank's `a` (all the same length), concatenated in rank order. */
  allgather(a: Float32Array): Float32Array {
    this.ready('allgather');
    const out = new Float32Array(a.length * this.size);
    this.t.gather(a, out);
    return out;
  }

  /** Rank `root`'s contents into every rank's `a` (same length everywhere), in place. */
  broadcast(a: Float32Array | Float64Array | Int32Array | Uint8Array, root = 0): void {
    this.ready('broadcast');
    if (!Number.isInteger(root) || root < 0 || root >= this.size)
      throw new ArgumentError(`broadcast: root ${root} is not a rank of ${this.size}`);
    if (this.size > 1) this.t.broadcast(a, root);
  }

  barrier(): void {
    this.ready('barrier');
    if (this.size > 1) this.t.barrier();
  }

  /**
   * Ends every rank of a multi-rank job after writing `message` to stderr (MPI_Abort): what a rank
   * that fails alone must do, as the others would wait for it in their next collective. A single
   * process returns (its caller throws as usual).
   */
  abortJob(message: string, code = 1): void {
    if (this.size === 1) return;
    process.stderr.write(`biofeg rank ${this.rank} of ${this.size}: ${message}\nending every rank (MPI_Abort)\n`);
    this.t.abort(code);
  }
}

function hostF32(t: NativeTensor, what: string): Float32Array {
  if (t.dtype !== 'f32') throw new ArgumentError(`${what}: the tensor is ${t.dtype}; f32 only over MPI`);
  return t.download() as Float32Array;
}
