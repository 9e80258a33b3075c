// npm run bench:compare -- --base DIR [--benches kernels,bert,gan] [--rounds 3] [--env-head K=V,...] [-- bench args]
// The same benches of two checkouts in one run: DIR is a built checkout of the base commit (e.g.
// `git worktree add /tmp/base REV && cd /tmp/base && npm ci` or a CPU-only cmake-js build there),
// this checkout is the head. Rounds alternate base / head (the shared machine's load swings hit
// both); each figure is the best of its rounds. Prints head/base per figure (>1: head faster) and
// writes bench/results/compare-<base rev>-<benches>.json. Bench args after `--` come first, so they override
// the defaults here (the benches read a flag's first occurrence). Peers are skipped (--no-peer): only our two
// builds are compared. --env-head sets variables for the head runs only (e.g.
// BIOFEG_CPU_KERNEL=avx2 to compare the head's AVX2 path with a base that only had AVX2).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { flagValue, machine, table, writeResult } from './common.js';

type Side = 'base' | 'head';
/** One figure of one bench run: higher is better unless `lowerIsBetter`. */
interface Figure {
  key: string;
  value: number;
  unit: string;
  lowerIsBetter?: boolean;
}

const BENCHES: Record<string, { script: string; args: string[]; figures: (json: unknown) => Figure[] }> = {
  kernels: { script: 'bench/kernels.ts', args: [], figures: kernelFigures },
  bert: { script: 'bench/bert.ts', args: ['--sizes', 'tiny,small'], figures: bertFigures },
  gan: { script: 'bench/gan.ts', args: ['--sizes', 'tiny'], figures: ganFigures },
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const results = (json: unknown): Record<string, unknown>[] =>
  isRecord(json) && Array.isArray(json.results) ? json.results.filter(isRecord) : [];

/** bench:kernels rows: our throughput column (GFLOP/s, GB/s, ...), else our milliseconds. */
function kernelFigures(json: unknown): Figure[] {
  const out: Figure[] = [];
  for (const r of results(json)) {
    const key = [r.op, r.dtype, r.shape].filter((x) => typeof x === 'string').join(' ');
    const rate = Object.keys(r).find((k) => /^ours .*\/s$/.test(k) && typeof r[k] === 'number');
    if (rate) out.push({ key, value: r[rate] as number, unit: rate.slice(5) });
    else if (typeof r.msOurs === 'number') out.push({ key, value: r.msOurs, unit: 'ms', lowerIsBetter: true });
  }
  return out;
}

function bertFigures(json: unknown): Figure[] {
  return results(json).flatMap((r) => {
    const ours = r.ours;
    return isRecord(ours) && typeof ours.seqPerSec === 'number'
      ? [{ key: `bert ${String(r.size)} ${String(r.phase)}`, value: ours.seqPerSec, unit: 'seq/s' }]
      : [];
  });
}

function ganFigures(json: unknown): Figure[] {
  return results(json).flatMap((r) => {
    const runs = Array.isArray(r.ours) ? r.ours.filter(isRecord) : [];
    const best = Math.max(...runs.map((x) => (typeof x.stepsPerSec === 'number' ? x.stepsPerSec : 0)));
    return runs.length ? [{ key: `gan ${String(r.size)} step`, value: best, unit: 'steps/s' }] : [];
  });
}

function runBench(side: Side, dir: string, name: string, extra: string[], env: Record<string, string>): Figure[] {
  const b = BENCHES[name]!;
  const out = mkdtempSync(join(tmpdir(), `biofeg-compare-${side}-`));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', b.script, ...extra, ...b.args, '--no-peer'], {
      cwd: dir,
      env: { ...process.env, ...env, BIOFEG_BENCH_RESULTS: out },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`${side} (${dir}): ${b.script} exited with ${r.status ?? r.signal}`);
    return readdirSync(out)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => b.figures(JSON.parse(readFileSync(join(out, f), 'utf8'))));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function rev(dir: string): string {
  return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
}

function main(): void {
  const baseArg = flagValue('base', '');
  if (!baseArg) throw new Error('--base DIR: a built checkout of the commit to compare with');
  const base = resolve(baseArg);
  const head = resolve(import.meta.dirname, '..');
  const names = flagValue('benches', 'kernels,bert,gan').split(',').filter(Boolean);
  for (const n of names) if (!BENCHES[n]) throw new Error(`--benches ${n}: expected some of ${Object.keys(BENCHES).join(', ')}`);
  const rounds = Number(flagValue('rounds', '3'));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const headEnv = Object.fromEntries(
    flagValue('env-head', '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const sep = process.argv.indexOf('--', 2);
  const extra = sep >= 0 ? process.argv.slice(sep + 1) : [];
  const revs = { base: rev(base), head: rev(head) };
  const best = new Map<string, Record<Side, number | undefined> & { unit: string; lowerIsBetter: boolean }>();
  for (const n of names)
    for (let round = 0; round < rounds; round++)
      for (const [side, dir] of [
        ['base', base],
        ['head', head],
      ] as const) {
        process.stderr.write(`${n} round ${round + 1}/${rounds}: ${side} (${revs[side]})\n`);
        for (const f of runBench(side, dir, n, extra, side === 'head' ? headEnv : {})) {
          const e = best.get(f.key) ?? { base: undefined, head: undefined, unit: f.unit, lowerIsBetter: !!f.lowerIsBetter };
          const old = e[side];
          e[side] = old === undefined ? f.value : e.lowerIsBetter ? Math.min(old, f.value) : Math.max(old, f.value);
          best.set(f.key, e);
        }
      }
  const rows = [...best].map(([key, e]) => ({
    figure: key,
    unit: e.unit,
    base: e.base ?? '-',
    head: e.head ?? '-',
    // >1: the head is faster, whichever way the unit points.
    'head/base': e.base !== undefined && e.head !== undefined ? (e.lowerIsBetter ? e.base / e.head : e.head / e.base) : '-',
  }));
  const m = machine();
  console.log(
    `base ${revs.base} (${base}) vs head ${revs.head}; ${rounds} alternating rounds, best of each; machine: ${JSON.stringify(m)}`,
  );
  if (Object.keys(headEnv).length) console.log(`head runs with ${JSON.stringify(headEnv)}`);
  console.log(table(rows));
  const file = writeResult(`compare-${revs.base}-${names.join('-')}.json`, {
    machine: m,
    base: revs.base,
    head: revs.head,
    rounds,
    headEnv,
    extra,
    rows,
  });
  console.log(`wrote ${file}`);
}

main();
