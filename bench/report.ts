/**
 * `npm run bench:report [-- --out FILE] [DIR]`: every bench JSON under bench/results/ (and its
 * subfolders, e.g. nvidia-h200/) on one self-contained HTML page: per file, ours vs each peer per
 * figure (bars, one chart per unit) and a table with the ratio, the machine and the settings.
 * Default output runs/bench-report.html (runs/ is not committed).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { writeFileAtomic } from '../src/data/atomic.js';
import { color, type ChartSpec } from '../src/report/charts.js';
import { canvases, chartScripts, esc, kv, STYLE } from '../src/report/html.js';
import { chartJsSource } from '../src/report/index.js';
import { readBenchJson, type BenchFile, type BenchRow, type Json } from './report-shapes.js';

function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? jsonFiles(p) : f.endsWith('.json') ? [p] : [];
    });
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/** One bar chart per unit of a file: a group per figure, a bar per side. */
function charts(b: BenchFile, fi: number): ChartSpec[] {
  const units = [...new Set(b.rows.map((r) => r.unit))];
  return units.map((unit, ui) => {
    const rows = b.rows.filter((r) => r.unit === unit);
    const sides = [...new Set(rows.flatMap((r) => r.values.map((v) => v.side)))];
    const title = `${b.file}: ${unit}${rows[0]!.higherIsBetter ? ' (higher is better)' : ' (lower is better)'}`;
    return {
      id: `chart-b${fi}-${ui}`,
      title,
      section: b.file,
      wide: rows.length > 6,
      height: rows.length > 6 ? Math.min(900, 80 + rows.length * sides.length * 12) : 280,
      config: {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.label),
          datasets: sides.map((side, i) => ({
            label: side,
            data: rows.map((r) => r.values.find((v) => v.side === side)?.value ?? null),
            backgroundColor: color(i),
          })),
        },
        options: {
          indexAxis: 'y',
          plugins: { title: { display: true, text: title }, legend: { display: true } },
          scales: { x: { title: { display: true, text: unit } }, y: { ticks: { autoSkip: false } } },
        },
      },
    };
  });
}

function table(rows: readonly BenchRow[]): string {
  const body = rows.map((r) => {
    const [ours, ...peers] = r.values;
    const ratio = peers.map((p) => {
      const x = r.higherIsBetter ? ours!.value / p.value : p.value / ours!.value;
      return `${fmt(x)}x vs ${esc(p.side)}`;
    });
    const values = r.values.map((v) => `${esc(v.side)} ${fmt(v.value)}`).join(' · ');
    return `<tr><td>${esc(r.label)}</td><td>${esc(r.unit)}</td><td>${values}</td><td>${ratio.join(', ') || '-'}</td></tr>`;
  });
  return `<table class="grid"><thead><tr><th>figure</th><th>unit</th><th>values</th><th>${esc(rows[0]?.values[0]?.side ?? 'first')} speed-up</th></tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function machineLine(m: { [key: string]: Json } | null): string {
  if (!m) return '<p class="missing">No machine recorded.</p>';
  const e = m['engine'] !== null && typeof m['engine'] === 'object' && !Array.isArray(m['engine']) ? m['engine'] : {};
  const facts: Record<string, unknown> = {
    cpu: m['cpu'],
    cores: m['cores'],
    'memory GiB': m['memGiB'],
    'CPU kernel': e['cpuKernel'],
    'CUDA device': e['cudaDevice'],
    GEMM: e['gemmEngine'],
    threads: e['threads'],
    node: m['node'],
    date: m['date'],
  };
  const shown = Object.entries(facts).filter(([, v]) => v !== undefined && v !== null && v !== 'none');
  return `<p class="meta">machine: ${shown.map(([k, v]) => `${esc(k)} ${esc(String(v))}`).join(' · ')}</p>`;
}

export function benchPage(dir: string, files: readonly BenchFile[], chartJs: string): { html: string; charts: number } {
  const all = files.flatMap((b, i) => charts(b, i));
  const sections = files.map(
    (b) => `<section id="${esc(b.file)}"><h3>${esc(b.file)}</h3>${b.note ? `<p class="meta">${esc(b.note)}</p>` : ''}
${b.rows.length ? `<div class="charts">${canvases(all, b.file)}</div>${table(b.rows)}` : ''}
${machineLine(b.machine)}
${b.settings ? `<details><summary>settings</summary>${kv(b.settings)}</details>` : ''}</section>`,
  );
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>biofeg benches</title><style>${STYLE}</style></head>
<body><h1>biofeg benches</h1>
<p class="meta">${files.length} files from ${esc(dir)} · written ${new Date().toISOString()} · the first side of each figure is ours; the speed-up column is ours over each other side</p>
<ul>${files.map((b) => `<li><a href="#${esc(b.file)}">${esc(b.file)}</a> (${esc(b.shape)}, ${b.rows.length} figures)</li>`).join('')}</ul>
${sections.join('\n')}
${chartScripts(all, chartJs)}
</body></html>
`;
  return { html, charts: all.length };
}

export function readBenchDir(dir: string): BenchFile[] {
  return jsonFiles(dir).map((p) => readBenchJson(relative(dir, p), readFileSync(p, 'utf8')));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const outAt = at >= 0 ? at + 1 : -1;
  const out = resolve(args[outAt] ?? 'runs/bench-report.html');
  const dir = resolve(args.find((a, i) => !a.startsWith('--') && i !== outAt) ?? 'bench/results');
  const files = readBenchDir(dir);
  const page = benchPage(dir, files, chartJsSource());
  writeFileAtomic(out, page.html);
  for (const b of files) if (!b.rows.length) process.stderr.write(`bench:report: ${b.file}: ${b.note ?? 'no figures'}\n`);
  process.stdout.write(`bench:report: ${out} (${files.length} files, ${page.charts} charts)\n`);
}

// Run as a script (npm run bench:report), not when a test imports benchPage.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
