// Learning-rate schedule of the original trainers: linear warmup then linear decay to 0
// (pytorch_transformers WarmupLinearSchedule), with the original's step arithmetic.
// See src/train/README.md for the exact semantics and the source references.

export interface SchedulePlanInput {
  /** Number of training examples (mentions, or generated features for fine-tuning). */
  numExamples: number;
  /** `--train_batch_size` as the user gave it (the effective batch). */
  trainBatchSize: number;
  /** `--gradient_accumulation_steps` (>= 1). */
  gradientAccumulationSteps: number;
  /** `--num_train_epochs`. */
  numTrainEpochs: number;
  /** `--warmup_proportion` (original default 0.1). */
  warmupProportion: number;
}

export interface SchedulePlan {
  /** Examples per forward/backward: floor(trainBatchSize / gradientAccumulationSteps). */
  microBatchSize: number;
  gradientAccumulationSteps: number;
  /** t_total of the schedule: int(N / microBatch / gradAcc) * epochs. */
  totalSteps: number;
  /** int(totalSteps * warmupProportion). */
  warmupSteps: number;
  /** Micro-batches per epoch: ceil(N / microBatch) (the loader keeps the last, partial batch). */
  microBatchesPerEpoch: number;
  /** Optimizer steps per epoch: floor(microBatchesPerEpoch / gradAcc) (the step index restarts each epoch). */
  optimizerStepsPerEpoch: number;
}

function positiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be an integer >= 1, got ${v}`);
}

/** The original's numbers for one training run (train_biencoder.py get_scheduler + main). */
export function planSchedule(p: SchedulePlanInput): SchedulePlan {
  positiveInt(p.gradientAccumulationSteps, '--gradient_accumulation_steps');
  positiveInt(p.trainBatchSize, '--train_batch_size');
  if (!Number.isInteger(p.numExamples) || p.numExamples < 0)
    throw new Error(`number of training examples must be >= 0, got ${p.numExamples}`);
  if (!Number.isInteger(p.numTrainEpochs) || p.numTrainEpochs < 0)
    throw new Error(`--num_train_epochs must be an integer >= 0, got ${p.numTrainEpochs}`);
  if (!(p.warmupProportion >= 0 && p.warmupProportion <= 1))
    throw new Error(`--warmup_proportion must be in [0, 1], got ${p.warmupProportion}`);
  const g = p.gradientAccumulationSteps;
  const micro = Math.floor(p.trainBatchSize / g);
  // The original divides by zero here; say why instead.
  if (micro < 1)
    throw new Error(
      `--train_batch_size ${p.trainBatchSize} is smaller than --gradient_accumulation_steps ${g}: each micro-batch would be empty`,
    );
  // Same float64 arithmetic and truncation as Python's int(len / batch / grad_acc) * epochs.
  const totalSteps = Math.trunc(p.numExamples / micro / g) * p.numTrainEpochs;
  const warmupSteps = Math.trunc(totalSteps * p.warmupProportion);
  const microBatchesPerEpoch = Math.ceil(p.numExamples / micro);
  return {
    microBatchSize: micro,
    gradientAccumulationSteps: g,
    totalSteps,
    warmupSteps,
    microBatchesPerEpoch,
    optimizerStepsPerEpoch: Math.floor(microBatchesPerEpoch / g),
  };
}

/**
 * Multiplier of the base learning rate for optimizer update number `step` (0-based, counted over
 * the whole run). LambdaLR evaluates the lambda at 0 before the first update and the scheduler is
 * stepped after each update, so update k uses lambda(k): with warmup the first update has lr 0.
 */
export function lrMultiplier(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** Learning rate of optimizer update `step` (0-based) under `plan`. */
export function learningRateAt(step: number, baseLr: number, plan: Pick<SchedulePlan, 'warmupSteps' | 'totalSteps'>): number {
  return baseLr * lrMultiplier(step, plan.warmupSteps, plan.totalSteps);
}

/** True when micro-batch `microStep` (0-based, restarting every epoch) ends an accumulation: the original's `(step + 1) % grad_acc == 0`. */
export function isUpdateStep(microStep: number, gradientAccumulationSteps: number): boolean {
  return (microStep + 1) % gradientAccumulationSteps === 0;
}

/** `--print_interval` / `--eval_interval` test of the original: `(step + 1) % (interval * grad_acc) == 0`, on micro-batch indices. */
export function isIntervalStep(microStep: number, interval: number, gradientAccumulationSteps: number): boolean {
  if (interval <= 0) return false;
  return (microStep + 1) % (interval * gradientAccumulationSteps) === 0;
}
