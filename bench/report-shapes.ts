// The benches' JSON files (bench/results/) -> rows of "ours vs peer" for bench/report.ts. Each
// bench writes its own shape; one reader per shape, tried in turn, and a plain table of whatever
// `results` holds for a shape none knows. A file that is no bench (a test report) says so.

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** One measured figure: each side's value in `unit` (`ours` first when there is one). */
export interface BenchRow {
  label: string;
  unit: string;
  /** True for throughputs, false for times. */
  higherIsBetter: boolean;
  values: Array<{ side: string; value: number }>;
}

export interface BenchFile {
  file: string;
  /** Which reader understood it. */
  shape: string;
  machine: Obj | null;
  settings: Obj | null;
  rows: BenchRow[];
  /** A short line on what the file is, or why it shows no rows. */
  note: string | null;
}

const isObj = (v: Json | undefined): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const objs = (v: Json | undefined): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const n = (v: Json | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: Json | undefined): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const row = (label: string, unit: string, higherIsBetter: boolean, values: Array<{ side: string; value: number | null }>): BenchRow[] => {
  const kept = values.filter((v): v is { side: string; value: number } => v.value !== null);
  return kept.length ? [{ label, unit, higherIsBetter, values: kept }] : [];
};

/** bench/bert.ts: results[{ size, phase, ours: {seqPerSec}, torch: {...}, onnx?: {...} }]. */
function bert(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.length || !rs.every((r) => isObj(r['ours']) && n((r['ours'] as Obj)['seqPerSec']) !== null)) return null;
  return rs.flatMap((r) => {
    const sides = Object.entries(r).filter(([, v]) => isObj(v) && n(v['seqPerSec']) !== null);
    const precision = str((j['settings'] as Obj | undefined)?.['precision']);
    return row(
      `${str(r['size'])} ${str(r['phase'])}${precision ? ` ${precision}` : ''}`,
      'sequences/s',
      true,
      sides.map(([k, v]) => ({ side: k, value: n((v as Obj)['seqPerSec']) })),
    );
  });
}

/** bench/gan.ts: results[{ size, ours: [{stepsPerSec}...rounds], torchOriginal: [...], ... }]: the best round per side. */
function gan(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.length || !rs.every((r) => Array.isArray(r['ours']) && objs(r['ours']).some((o) => n(o['stepsPerSec']) !== null))) return null;
  return rs.flatMap((r) =>
    row(
      `${str(r['size'])} (batch ${str(r['batch'])}, ${str(r['criticIters'])} critic steps)`,
      'steps/s',
      true,
      Object.entries(r)
        .filter(([, v]) => objs(v).some((o) => n(o['stepsPerSec']) !== null))
        .map(([k, v]) => ({ side: k, value: Math.max(...objs(v).map((o) => n(o['stepsPerSec']) ?? 0)) })),
    ),
  );
}

/** bench/serve.ts: cells[{ side, size, device, concurrency, mentionsPerSec }]: one row per size/device/concurrency. */
function serve(j: Obj): BenchRow[] | null {
  const cells = objs(j['cells']);
  if (!cells.length || !cells.every((c) => typeof c['side'] === 'string')) return null;
  const groups = new Map<string, Obj[]>();
  for (const c of cells) {
    const key = `${str(c['size'])} ${str(c['device'])}, concurrency ${str(c['concurrency'])}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups].flatMap(([label, cs]) =>
    row(
      label,
      'mentions/s',
      true,
      cs.map((c) => ({ side: str(c['side']), value: n(c['mentionsPerSec']) })),
    ),
  );
}

/** bench/compare.ts: rows[{ figure, unit, base, head }]: this commit (head) against an earlier one (base). */
function compare(j: Obj): BenchRow[] | null {
  const rs = objs(j['rows']);
  if (!rs.length || !rs.every((r) => typeof r['figure'] === 'string')) return null;
  const head = `head ${str(j['head'])}`,
    base = `base ${str(j['base'])}`;
  return rs.flatMap((r) => {
    const unit = str(r['unit']);
    return row(str(r['figure']), unit, !/^(ms|s)\b/.test(unit), [
      { side: head, value: n(r['head']) },
      { side: base, value: n(r['base']) },
    ]);
  });
}

/**
 * bench/kernels.ts: results[{ op, dtype, "ours GFLOP/s", "<peer> GFLOP/s"? }], and rows of other
 * kinds beside them (TFLOP/s against the device's peak, GB/s, ms).
 */
function kernels(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.some((r) => n(r['ours GFLOP/s']) !== null)) return null;
  return rs.flatMap((r) => {
    const label = `${str(r['op'])}${r['dtype'] !== undefined ? ` ${str(r['dtype'])}` : ''}`;
    if (n(r['ours GFLOP/s']) !== null)
      return row(
        label,
        'GFLOP/s',
        true,
        Object.keys(r)
          .filter((k) => / GFLOP\/s$/.test(k))
          .map((k) => ({ side: k.replace(/ GFLOP\/s$/, ''), value: n(r[k]) })),
      );
    if (n(r['tflops']) !== null)
      return row(label, 'TFLOP/s', true, [
        { side: 'ours', value: n(r['tflops']) },
        { side: 'device peak', value: n(r['peakTflops']) },
      ]);
    if (n(r['gbs']) !== null) return row(label, 'GB/s', true, [{ side: 'ours', value: n(r['gbs']) }]);
    if (n(r['fwdMs']) !== null)
      return [
        ...row(`${label} forward`, 'ms', false, [{ side: 'ours', value: n(r['fwdMs']) }]),
        ...row(`${label} backward`, 'ms', false, [{ side: 'ours', value: n(r['bwdMs']) }]),
      ];
    return row(label, 'ms', false, [{ side: 'ours', value: n(r['ms']) }]);
  });
}

/** bench/biencoder-loop.ts: the training loop's step against the bare step (the loop's overhead). */
function loop(j: Obj): BenchRow[] | null {
  if (n(j['loopMs']) === null || n(j['bareMs']) === null) return null;
  return row('bi-encoder step', 'ms/step', false, [
    { side: 'ours (training loop)', value: n(j['loopMs']) },
    { side: 'bare step', value: n(j['bareMs']) },
  ]);
}

/** bench/cross.ts: results[{ size, ours: [{scoreMs, trainMs}...rounds], torch: [...] }]: the best round per side. */
function cross(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.length || !rs.every((r) => objs(r['ours']).some((o) => n(o['scoreMs']) !== null))) return null;
  const best = (v: Json | undefined, k: string) => {
    const xs = objs(v)
      .map((o) => n(o[k]))
      .filter((x): x is number => x !== null);
    return xs.length ? Math.min(...xs) : null;
  };
  return rs.flatMap((r) =>
    (['scoreMs', 'trainMs'] as const).flatMap((k) =>
      row(
        `${str(r['size'])} ${k === 'scoreMs' ? 'pair scoring' : 'train step'} (${str(r['batch'])} mentions x ${str(r['k'])})`,
        'ms',
        false,
        [
          { side: 'ours', value: best(r['ours'], k) },
          { side: 'torch', value: best(r['torch'], k) },
        ],
      ),
    ),
  );
}

/** bench/index-load.ts: summary { bestMs, medianMs } of Linker.load over fresh processes. */
function indexLoad(j: Obj): BenchRow[] | null {
  const sm = j['summary'];
  if (!isObj(sm) || n(sm['bestMs']) === null) return null;
  const st = isObj(j['settings']) ? j['settings'] : {};
  return row(`Linker.load, ${str(st['rows'])} x ${str(st['dim'])} ${str(st['dtype'])} index`, 'ms', false, [
    { side: 'best', value: n(sm['bestMs']) },
    { side: 'median', value: n(sm['medianMs']) },
  ]);
}

/** bench/scale.ts: results[{ ranks, "all-reduce"?, "steps/s", "efficiency %" }]: steps/s per run, one row. */
function scale(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.length || !rs.every((r) => n(r['ranks']) !== null && n(r['steps/s']) !== null)) return null;
  const st = isObj(j['settings']) ? j['settings'] : {};
  return row(
    `data-parallel training steps${st['batch'] !== undefined ? `, global batch ${str(st['batch'])}` : ''}`,
    'steps/s',
    true,
    rs.map((r) => ({
      side: `${str(r['ranks'])} rank(s)${r['all-reduce'] !== undefined && r['ranks'] !== 1 ? `, ${str(r['all-reduce'])}` : ''}`,
      value: n(r['steps/s']),
    })),
  );
}

/** Any other results[]: one row per entry, its first throughput (or time) field, ours only. */
function plain(j: Obj): BenchRow[] | null {
  const rs = objs(j['results']);
  if (!rs.length) return null;
  const fields: Array<[string, string, boolean]> = [
    ['perSecond', 'items/s', true],
    ['queriesPerSec', 'queries/s', true],
    ['seconds', 's', false],
  ];
  return rs.flatMap((r) => {
    const f = fields.find(([k]) => n(r[k]) !== null);
    const label = Object.entries(r)
      .filter(([, v]) => typeof v === 'string')
      .map(([, v]) => String(v))
      .join(' ');
    return f ? row(label || '(unnamed)', f[1], f[2], [{ side: 'ours', value: n(r[f[0]]) }]) : [];
  });
}

const READERS: Array<[string, (j: Obj) => BenchRow[] | null]> = [
  ['bert', bert],
  ['gan', gan],
  ['serve', serve],
  ['compare', compare],
  ['kernels', kernels],
  ['biencoder-loop', loop],
  ['cross', cross],
  ['index-load', indexLoad],
  ['scale', scale],
  ['results', plain],
];

export function readBenchJson(file: string, text: string): BenchFile {
  let j: Json;
  try {
    j = JSON.parse(text) as Json;
  } catch (e) {
    return {
      file,
      shape: 'unreadable',
      machine: null,
      settings: null,
      rows: [],
      note: `not JSON: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  if (!isObj(j)) return { file, shape: 'unknown', machine: null, settings: null, rows: [], note: 'not a JSON object' };
  const machine = isObj(j['machine']) ? j['machine'] : null;
  const settings = isObj(j['settings']) ? j['settings'] : null;
  if (n(j['numTotalTests']) !== null)
    return {
      file,
      shape: 'test report',
      machine,
      settings,
      rows: [],
      note: `a test report, not a bench: ${str(j['numPassedTests'])} passed, ${str(j['numFailedTests'])} failed, ${str(j['numPendingTests'])} skipped`,
    };
  for (const [shape, read] of READERS) {
    const rows = read(j);
    if (rows?.length) {
      const note = typeof j['note'] === 'string' ? j['note'] : typeof j['notes'] === 'string' ? j['notes'] : null;
      return { file, shape, machine, settings, rows, note };
    }
  }
  return { file, shape: 'unknown', machine, settings, rows: [], note: 'no figures this page knows how to read' };
}
