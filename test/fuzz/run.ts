// The fuzz runner. `npm run fuzz -- --seconds N` runs every target with fresh random seeds until
// N seconds have passed, each batch in a child process with a memory limit and a time limit, and
// prints the target and seed (and the shrunk input) of any failure, crash, hang or out-of-memory.
// The normal test suite runs it once with a fixed seed and each target's `runs`, also in child
// processes (test/fuzz/fuzz.test.ts), so none of these can take the test runner down.
//
//   node --import tsx --max-old-space-size=1024 test/fuzz/run.ts
//        [--seconds N | --runs N] [--seed S] [--target NAME[,NAME]] [--group checkpoint|text|native] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { NATIVE_TARGETS } from './native-targets.js';
import { ALL_TARGETS, CHECKPOINT_TARGETS, TEXT_TARGETS, acceptable, type Target } from './targets.js';

export interface FuzzResult {
  target: string;
  seed: number;
  runs: number;
  ms: number;
  /** Cases that read fine / were refused with a typed error. */
  read: number;
  refused: number;
  failure?: string;
}

/** Runs `runs` cases of `t` from `seed`; a failure carries fast-check's report (seed, path, input). */
export async function fuzzTarget(t: Target<unknown>, seed: number, runs: number): Promise<FuzzResult> {
  const root = mkdtempSync(join(tmpdir(), `biofeg-fuzz-${t.name}-`));
  const budget = t.budgetMs ?? 3000;
  let k = 0;
  let read = 0;
  let refused = 0;
  const t0 = performance.now();
  try {
    const prop = fc.asyncProperty(t.arb, async (input) => {
      const dir = mkdtempSync(join(root, `c${k++}-`));
      const c0 = performance.now();
      try {
        await t.run(input, dir);
        read++;
      } catch (e) {
        refused++;
        if (!acceptable(t, e)) {
          const err = e as Error;
          throw new Error(
            `untyped error ${err?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 300)}\n${err?.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`,
          );
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const ms = performance.now() - c0;
      if (ms > budget) throw new Error(`case took ${ms.toFixed(0)} ms, over the ${budget} ms budget`);
    });
    const r = await fc.check(prop, { seed, numRuns: runs, endOnFailure: false, markInterruptAsFailure: true });
    const out: FuzzResult = { target: t.name, seed, runs: r.numRuns, ms: Math.round(performance.now() - t0), read, refused };
    if (r.failed) {
      const input: unknown = r.counterexample?.[0];
      const shown = t.show
        ? `case: ${t.show(input).slice(0, 4000)}`
        : Buffer.isBuffer(input)
          ? `input (${input.length} bytes, base64): ${input.subarray(0, 600).toString('base64')}`
          : 'input: none';
      out.failure = `${t.name}: seed ${r.seed}, path "${r.counterexamplePath}": ${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}\n  ${shown}`;
    }
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface ChildOutcome {
  results: FuzzResult[];
  failures: string[];
  /** Set when the child crashed, hung or ran out of memory (no report came back). */
  crash?: string;
  ms: number;
}

/**
 * Runs this script in a child process (same Node flags: tsx, heap limit) with `args` and
 * `--json`; a crash, a signal, a timeout or an out-of-memory comes back as `crash`.
 */
export function runChild(args: string[], timeoutMs: number, heapMb = 1024): ChildOutcome {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', `--max-old-space-size=${heapMb}`, import.meta.filename, ...args, '--json'], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 64 << 20,
  });
  const ms = Date.now() - t0;
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  let parsed: { results: FuzzResult[]; failures: string[] } | undefined;
  try {
    parsed = JSON.parse(last) as { results: FuzzResult[]; failures: string[] };
  } catch {
    parsed = undefined;
  }
  if (r.error || r.signal || !parsed) {
    const why =
      r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT'
        ? `hung (no result within ${timeoutMs} ms)`
        : r.signal
          ? `killed by ${r.signal}`
          : `exited ${r.status} without a report`;
    return { results: [], failures: [], crash: `${args.join(' ')}: ${why}\n${(r.stderr ?? '').slice(-2000)}`, ms };
  }
  return { ...parsed, ms };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const group = arg('group');
  let targets: Target<unknown>[] =
    group === 'checkpoint' ? CHECKPOINT_TARGETS : group === 'text' ? TEXT_TARGETS : group === 'native' ? NATIVE_TARGETS : ALL_TARGETS;
  const names = arg('target')?.split(',');
  if (names) targets = ALL_TARGETS.filter((t) => names.includes(t.name));
  if (targets.length === 0) throw new Error(`no such target; targets: ${ALL_TARGETS.map((t) => t.name).join(', ')}`);
  const seconds = arg('seconds') !== undefined ? Number(arg('seconds')) : undefined;
  const runs = arg('runs') !== undefined ? Number(arg('runs')) : undefined;
  const json = process.argv.includes('--json');
  const failures: string[] = [];
  const results: FuzzResult[] = [];
  if (seconds === undefined) {
    // One pass with a fixed seed, in this process (the test suite runs this in a child).
    const seed = Number(arg('seed') ?? 16);
    for (const t of targets) {
      const r = await fuzzTarget(t, seed, runs ?? t.runs);
      results.push(r);
      if (!json)
        console.log(`${t.name}: ${r.runs} cases in ${r.ms} ms (${r.read} read, ${r.refused} refused)${r.failure ? ' FAILED' : ''}`);
      if (r.failure) failures.push(r.failure);
    }
    if (json) console.log(JSON.stringify({ results, failures }));
    else for (const f of failures) console.log(f);
    process.exitCode = failures.length ? 1 : 0;
    return;
  }
  // Timed: batches of one target and one fresh seed, each in a child process.
  const end = Date.now() + seconds * 1000;
  let seed = Number(arg('seed') ?? Date.now() % 2 ** 31);
  let total = 0;
  while (Date.now() < end) {
    for (const t of targets) {
      if (Date.now() >= end) break;
      const n = runs ?? Math.max(10, t.runs);
      const args = ['--target', t.name, '--seed', String(seed), '--runs', String(n)];
      const o = runChild(args, 60_000 + n * (t.budgetMs ?? 3000));
      for (const r of o.results) total += r.runs;
      for (const f of o.failures) {
        failures.push(f);
        console.log(`FAILURE ${f}\n  rerun: npm run fuzz -- ${args.join(' ')}`);
      }
      if (o.crash) {
        failures.push(o.crash);
        console.log(`CRASH ${o.crash}\n  rerun: npm run fuzz -- ${args.join(' ')}`);
      }
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
    }
  }
  console.log(`${total} cases over ${seconds} s, ${failures.length} failure(s)`);
  process.exitCode = failures.length ? 1 : 0;
}

if (process.argv[1] === import.meta.filename) await main();
