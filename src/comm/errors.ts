// The error of a multi-process run whose communication library cannot be used.
import { DeviceUnavailableError } from '../errors.js';

/**
 * More than one rank was asked for (mpirun) but libmpi (or, on GPUs, libnccl) cannot be loaded
 * or initialised. Its code is ERR_BIOFEG_DEVICE, as for any engine that is not there.
 */
export class CommunicatorUnavailableError extends DeviceUnavailableError {
  /** Which library: 'mpi' or 'nccl'. */
  readonly library: 'mpi' | 'nccl';
  constructor(library: 'mpi' | 'nccl', message: string) {
    super(message);
    this.name = 'CommunicatorUnavailableError';
    this.library = library;
  }
}
