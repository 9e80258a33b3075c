// The gradient all-reduce of one optimiser step of a data-parallel run, overlapped with the
// backward where the engine allows it: a host model's BERT sends its gradient buffer over MPI in
// buckets while its backward still runs (native/comm/grad_buckets.h, DDP's bucket_cap_mb scheme).
// The rest is reduced after the backward, as before: linear heads (small), a CUDA model's
// buffers (NCCL queues them on the engine's one stream, where nothing overlaps yet), and a BERT
// whose backward did not take part (a rank without rows in the step).
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

export class StepReduction implements BackwardRunner {
  private next = 0;
  private readonly berts: Bert[];
  private readonly options: Required<BackwardOptions> | undefined;
  /** Buckets sent by this step's BERT all-reduces, and how many while their backward still ran. */
  readonly stats: AllreduceStats = { buckets: 0, overlapped: 0 };

  /**
   * bucketMiB 0 sends nothing during the backward (one all-reduce per part after it). Overlap
   * needs several ranks, MPI on host models, and no NCCL communicator.
   */
  constructor(
    private readonly comm: Communicator,
    private readonly parts: readonly ParamPart[],
    private readonly deviceComm: NcclCommunicator | undefined,
    bucketMiB: number,
  ) {
    const on = comm.size > 1 && bucketMiB > 0 && !deviceComm && parts.every((p) => p.params.device !== 'cuda');
    this.berts = on ? parts.flatMap((p) => (p.bert ? [p.bert] : [])) : [];
    this.options = on ? { allreduce: { bucketElements: Math.max(1, Math.round((bucketMiB * 2 ** 20) / 4)) } } : undefined;
  }

  /** The step's last backward of `bert`: its buckets are sent as it runs when it is next in order. */
  async backward(bert: Bert, g: BertOutputGradients): Promise<void> {
    if (this.options && this.berts[this.next] === bert) {
      this.next++;
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
  private logged = false;

  constructor(
    private readonly comm: Communicator,
    private readonly parts: readonly ParamPart[],
    private readonly deviceComm: NcclCommunicator | undefined,
    bucketCapMb: number | undefined,
  ) {
    this.bucketMiB = bucketCapOf(bucketCapMb);
  }

  /** The run log's account of how the all-reduce meets the backward. */
  get description(): string {
    if (this.deviceComm) return 'one all-reduce per part after the backward (NCCL, on the engine stream)';
    return this.bucketMiB > 0 ? `BERT gradients in ${this.bucketMiB} MiB buckets during the backward (MPI)` : 'one all-reduce per part after the backward';
  }

  /** The reduction of an update step (its backward starts it); undefined for an accumulating one. */
  step(update: boolean): StepReduction | undefined {
    return update ? new StepReduction(this.comm, this.parts, this.deviceComm, this.bucketMiB) : undefined;
  }

  /** Finishes a step's reduction; the first one that sent buckets logs what they did ('allreduce'). */
  finish(r: StepReduction, log: { log(event: string, fields: Record<string, number>): void }): void {
    r.finish();
    if (this.logged || r.stats.buckets === 0) return;
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
