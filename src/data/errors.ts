import { InputError } from '../errors.js';

/** An input problem tied to a file position: prints as `path:line: what was expected`. */
export class DataError extends InputError {
  constructor(
    path: string,
    line: number | undefined,
    readonly detail: string,
  ) {
    super(path, line, detail);
    this.name = 'DataError';
  }
}

/** Warnings that a documented skip policy turned into counts instead of errors. */
export class WarningCounter {
  readonly counts = new Map<string, number>();
  readonly examples: string[] = [];
  constructor(private readonly maxExamples = 20) {}

  add(kind: string, message: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (this.examples.length < this.maxExamples) this.examples.push(message);
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  toJSON(): { counts: Record<string, number>; examples: string[] } {
    return { counts: Object.fromEntries(this.counts), examples: this.examples };
  }
}
