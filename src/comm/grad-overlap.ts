// The gradient all-reduce of one optimiser step of a data-parallel run, overlapped with the
// backward: a BERT sends its gradient buffer in buckets while its backward still runs
// (native/comm/grad_buckets.h, DDP's bucket_cap_mb scheme), over MPI for a host model and over
// NCCL on a side stream for a CUDA one. The rest is reduced after the backward, as before: linear
// heads (small), a CUDA model's buffers staged through host memory (no NCCL), and a BERT whose
// backward did not take part (a rank without rows in the step: the same buckets, sent after).
//
// MPI matches collectives by their order, so every rank reduces in the same order whatever its
// rows: the BERTs in parts order (those reduced in their backward always a prefix of it), right
// after the step's backward and before any other collective (backwardDone), then at the update
// the other parts (finish).
import type { AllreduceStats, BackwardOptions, Bert, BertOutputGradients } from '../models/bert.js';
import type { ParamPart } from '../models/biencoder.js';
import { ArgumentError } from '../errors.js';
import type { Communicator } from './communicator.js';
import { reduceGradients } from './data-parallel.js';
import type { NcclCommunicator } from './nccl.js';

/** PyTorch DDP's default bucket_cap_mb. */
export const DEFAULT_BUCKET_MIB = 25;

/** Runs the backward of a BERT part: what the models take, so they need not know about ranks. */
export interface BackwardRunner {
  backward(bert: Bert, g: BertOutputGradients): Promise<void>;
}

/** A BERT's backward, through `runner` when there is one. */
export async function backwardThrough(runner: BackwardRunner | undefined, bert: Bert, g: BertOutputGradients): Promise<void> {
  await (runner ? runner.backward(bert, g) : bert.backwardAsync(g));
}

export class StepReduction implements BackwardRunner {
  private next = 0;
  private readonly berts: Bert[];
  /** Buckets sent by this step's BERT all-reduces, and how many while their backward still ran. */
  readonly stats: AllreduceStats = { buckets: 0, overlapped: 0 };

  /** options: the backward's all-reduce (GradientSync's), or undefined: everything after the backward. */
  constructor(
    private readonly comm: Communicator,
    private readonly parts: readonly ParamPart[],
    private readonly deviceComm: NcclCommunicator | undefined,
    private readonly options: Required<BackwardOptions> | undefined,
  ) {
    this.berts = options ? parts.flatMap((p) => (p.bert ? [p.bert] : [])) : [];
  }

  /** The step's last backward of `bert`: its buckets are sent as it runs when it is next in order. */
  async backward(bert: Bert, g: BertOutputGradients): Promise<void> {
    if (this.options && this.berts[this.next] === bert) {
      this.next++;
      this.comm.hold("a step's gradient buckets are on their way (call backwardDone before any other collective)");
      const st = await bert.backwardAsync(g, this.options);
      if (!st) throw new Error('the addon ran the backward without its all-reduce: it predates gradient buckets (rebuild it)');
      this.add(st);
    } else await bert.backwardAsync(g);
  }

  /**
   * Sums the BERTs the step's backward did not (a rank without rows, a side without a backward):
   * call on every rank right after the step, before any other collective.
   */
  backwardDone(): void {
    for (; this.next < this.berts.length; this.next++) this.add(this.berts[this.next]!.allreduceGradients(this.options!));
    this.comm.release();
  }

  /** Sums the remaining parts (backwardDone first if it was not called): every gradient is then summed. */
  finish(): void {
    this.backwardDone();
    const rest = this.options ? this.parts.filter((p) => !p.bert) : this.parts;
    reduceGradients(this.comm, rest, this.deviceComm);
  }

  private add(s: AllreduceStats | undefined): void {
    if (!s) return;
    this.stats.buckets += s.buckets;
    this.stats.overlapped += s.overlapped;
  }
}

/** A run's gradient all-reduce: one StepReduction per update step, and the log lines about it. */
export class GradientSync {
  readonly bucketMiB: number;
  /** The BERT backward's all-reduce, or undefined (a single process, bucket 0, a CUDA model without NCCL). */
  private readonly options: Required<BackwardOptions> | undefined;
  private logged = false;

  /**
   * bucketCapMb 0 sends nothing during the backward (one all-reduce per part after it). Overlap
   * needs several ranks, and host models over MPI or CUDA models with an NCCL communicator.
   */
  constructor(
    private readonly comm: Communicator,
    private readonly parts: readonly ParamPart[],
    private readonly deviceComm: NcclCommunicator | undefined,
    bucketCapMb: number | undefined,
  ) {
    this.bucketMiB = bucketCapOf(bucketCapMb);
    const onCuda = parts.every((p) => p.params.device === 'cuda'),
      onHost = parts.every((p) => p.params.device !== 'cuda');
    const bucketElements = Math.max(1, Math.round((this.bucketMiB * 2 ** 20) / 4));
    if (comm.size > 1 && this.bucketMiB > 0 && (deviceComm ? onCuda : onHost))
      this.options = { allreduce: { bucketElements, ...(deviceComm ? { nccl: deviceComm.bucketHandle } : {}) } };
  }

  /** The run log's account of how the all-reduce meets the backward. */
  get description(): string {
    const via = this.deviceComm ? 'NCCL' : this.parts.some((p) => p.params.device === 'cuda') ? 'MPI, staged through host memory' : 'MPI';
    return this.options
      ? `BERT gradients in ${this.bucketMiB} MiB buckets during the backward (${via})`
      : `one all-reduce per part after the backward (${via})`;
  }

  /** The reduction of an update step (its backward starts it); undefined for an accumulating one. */
  step(update: boolean): StepReduction | undefined {
    return update ? new StepReduction(this.comm, this.parts, this.deviceComm, this.options) : undefined;
  }

  /** Finishes a step's reduction; the first one that sent buckets logs what they did ('allreduce'). */
  finish(r: StepReduction, log?: { log(event: string, fields: Record<string, number>): void }): void {
    r.finish();
    if (!log || this.logged || r.stats.buckets === 0) return;
    this.logged = true;
    log.log('allreduce', { bucketMiB: this.bucketMiB, ...r.stats });
  }
}

/** A run's bucket size in MiB: the setting, else {@link DEFAULT_BUCKET_MIB}; 0 sends after the backward. */
export function bucketCapOf(setting: number | undefined): number {
  const v = setting ?? DEFAULT_BUCKET_MIB;
  if (!Number.isFinite(v) || v < 0) throw new ArgumentError(`bucketCapMb must be a number >= 0 (MiB), got ${String(setting)}`);
  return v;
}
