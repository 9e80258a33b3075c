// Stop training on a non-finite loss with a message that says where and what to do.
import { NonFiniteError } from '../errors.js';

export class NonFiniteLossError extends NonFiniteError {
  constructor(what: string, value: number, step: number, context?: string) {
    const kind = Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
    super(
      `${what} is ${kind} at step ${step}${context ? ` (${context})` : ''}: training stopped. ` +
        'The last good checkpoint was kept; try a lower --learning_rate or a smaller --max_grad_norm.',
      step,
      value,
    );
    this.name = 'NonFiniteLossError';
  }
}

/**
 * Throw {@link NonFiniteLossError} when `value` is NaN or +-Inf; return it otherwise.
 * `step` is the count the log shows (micro-batch or optimizer step; say which in `context`).
 */
export function checkFiniteLoss(value: number, step: number, opts: { what?: string; context?: string } = {}): number {
  if (!Number.isFinite(value)) throw new NonFiniteLossError(opts.what ?? 'loss', value, step, opts.context);
  return value;
}
