// The report page: one HTML file with Chart.js and the data inlined (it opens from disk, offline).
// Tables and text are written here; the charts are drawn in the browser from the inlined configs.
import type { ChartSpec, Json } from './charts.js';
import type { RunData, StageData } from './types.js';

export interface PageInput {
  run: RunData;
  charts: ChartSpec[];
  /** The engine and machine facts (info()), or why they are unavailable. */
  engine: Record<string, unknown> | string;
  generatedAt: string;
  /** Chart.js's UMD bundle, inlined as it is. */
  chartJs: string;
}

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** JavaScript inside <script>: no "</script" may end the element early (`<\/` means `</` in JS strings and regexes). */
const scriptSafe = (s: string): string => s.replace(/<\/(script)/gi, '<\\/$1');
/** JSON inside <script>: every "<" escaped, so nothing in the data can close or comment out the element. */
const jsonSafe = (v: Json): string => JSON.stringify(v).replace(/</g, '\\u003c');

const fmt = (v: unknown): string => {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
};

const seconds = (s: number | null): string => (s === null ? '-' : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

export function kv(o: Record<string, unknown>): string {
  const rows = Object.entries(o).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`);
  return `<table class="kv">${rows.join('')}</table>`;
}

function missingList(items: readonly string[]): string {
  return items.length === 0 ? '' : `<ul class="missing">${items.map((m) => `<li>${esc(m)}</li>`).join('')}</ul>`;
}

/** The figures of one section's charts (canvases the page's script draws into). */
export const canvases = (charts: readonly ChartSpec[], section: string): string =>
  charts
    .filter((c) => c.section === section)
    .map(
      (c) =>
        `<figure class="chart${c.wide ? ' wide' : ''}"${c.height ? ` style="height:${c.height}px"` : ''}><canvas id="${esc(c.id)}" aria-label="${esc(c.title)}" role="img"></canvas></figure>`,
    )
    .join('');

function summaryTable(run: RunData): string {
  const rows = run.stages.map(
    (s) =>
      `<tr class="status-${s.status.replace(' ', '-')}"><td><a href="#stage-${esc(s.name)}">${esc(s.name)}</a></td><td>${esc(s.kind)}</td><td>${esc(s.status)}</td><td>${seconds(s.seconds)}</td><td>${esc(s.device ?? '-')}</td><td>${esc(s.finishedAt ?? '-')}</td><td>${s.missing.length}</td></tr>`,
  );
  return `<table class="grid stages-table"><thead><tr><th>stage</th><th>kind</th><th>status</th><th>wall time</th><th>device</th><th>finished</th><th>notes</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function recallTable(run: RunData): string {
  const evals = run.stages.filter((s) => s.recall.length > 0);
  if (evals.length === 0) return '<p class="missing">No stage holds an eval_report.json yet: no recall to show.</p>';
  const ks = [...new Set(evals.flatMap((s) => s.recall.flatMap((m) => Object.keys(m.ranks))))].sort((a, b) => Number(a) - Number(b));
  const rows = evals.flatMap((s) =>
    s.recall.map(
      (m) =>
        `<tr><td>${esc(s.name)}</td><td>${esc(m.mode)}</td><td>${m.total}</td>${ks.map((k) => `<td>${m.ranks[k] == null ? '-' : m.ranks[k]!.toFixed(4)}</td>`).join('')}</tr>`,
    ),
  );
  return `<table class="grid recall-table"><thead><tr><th>stage</th><th>mode</th><th>mentions</th>${ks.map((k) => `<th>r@${esc(k)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function rerankTable(run: RunData): string {
  const rows = run.stages.flatMap((s) =>
    s.rerank.map(
      (m) =>
        `<tr><td>${esc(s.name)}</td><td>${esc(m.mode)}</td><td>${m.mentions ?? '-'}</td>${[m.cross, m.crossNormalized, m.biencoder, m.recallAtK].map((v) => `<td>${v === null ? '-' : v.toFixed(4)}</td>`).join('')}</tr>`,
    ),
  );
  if (rows.length === 0) return '';
  return `<table class="grid rerank-table"><thead><tr><th>stage</th><th>mode</th><th>mentions</th><th>cross-encoder</th><th>normalized</th><th>bi-encoder top 1</th><th>recall@k</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function stageSection(s: StageData, charts: readonly ChartSpec[]): string {
  const facts: Record<string, unknown> = { kind: s.kind, status: s.status, 'wall time': seconds(s.seconds), folder: s.dir };
  if (s.device) facts['device'] = s.device;
  if (s.finishedAt) facts['finished'] = s.finishedAt;
  if (s.plannedEpochs !== null) facts['epochs planned'] = s.plannedEpochs;
  if (s.steps.length) facts['metric points'] = s.steps.length;
  const failure = s.failure ? `<p class="failure">Stopped: ${esc(s.failure)}</p>` : '';
  const settings = s.settings
    ? `<details><summary>settings</summary>${kv(s.settings)}</details>`
    : '<p class="missing">No settings recorded.</p>';
  const result =
    s.result === null ? '' : `<details><summary>result (DONE.json)</summary><pre>${esc(JSON.stringify(s.result, null, 2))}</pre></details>`;
  return `<section class="stage" id="stage-${esc(s.name)}"><h3>${esc(s.name)}</h3>${kv(facts)}${failure}${missingList(s.missing)}<div class="charts">${canvases(charts, s.name)}</div>${settings}${result}</section>`;
}

export const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1280px;padding:16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:16px;margin:18px 0 6px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}
figure.chart{margin:0;height:260px;position:relative;border:1px solid #eee;border-radius:4px;padding:4px}figure.wide{grid-column:1/-1}
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
table.kv th{font-weight:600;color:#555}.grid thead th{background:#f5f5f5}
.missing{color:#a15c00}.failure{color:#b00020;font-weight:600}.status-failed td:nth-child(3){color:#b00020}.status-unfinished td:nth-child(3),.status-not-run td:nth-child(3){color:#a15c00}
pre{background:#f7f7f7;padding:6px;overflow:auto;max-height:300px}.meta{color:#666}`;

// Runs in the page: draws every chart, reports how many were drawn on <body> (the browser test reads it).
const RENDER = `(function(){var d=JSON.parse(document.getElementById('report-data').textContent);
Chart.defaults.animation=false;Chart.defaults.maintainAspectRatio=false;var n=0;
d.charts.forEach(function(c){var el=document.getElementById(c.id);if(!el){console.error('no canvas '+c.id);return;}
try{new Chart(el,c.config);n++;}catch(e){console.error('chart '+c.id+': '+e);}});
document.body.setAttribute('data-charts-expected',String(d.charts.length));document.body.setAttribute('data-charts-rendered',String(n));})();`;

/** The page's scripts: the charts' data, Chart.js and the code that draws them. */
export function chartScripts(charts: readonly ChartSpec[], chartJs: string): string {
  const data: Json = { charts: charts.map((c) => ({ id: c.id, config: c.config })) };
  return `<script type="application/json" id="report-data">${jsonSafe(data)}</script>
<script>${scriptSafe(chartJs)}</script>
<script>${RENDER}</script>`;
}

export function renderPage(p: PageInput): string {
  const { run, charts } = p;
  const done = run.stages.filter((s) => s.status === 'done').length;
  const engine = typeof p.engine === 'string' ? `<p class="missing">Engine information unavailable: ${esc(p.engine)}</p>` : kv(p.engine);
  const stages = run.stages.filter((s) => s.status !== 'not run' || run.layout === 'stage');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>biofeg report: ${esc(run.root)}</title><style>${STYLE}</style></head>
<body>
<h1>biofeg run report</h1>
<p class="meta">${esc(run.root)} · ${run.layout === 'pipeline' ? `pipeline, ${done} of ${run.stages.length} stages done` : 'one stage'} · written ${esc(p.generatedAt)}</p>
${missingList([...run.missing, ...run.stages.filter((s) => s.status !== 'done' && s.status !== 'not run').map((s) => `${s.name}: ${s.status}${s.failure ? ` (${s.failure})` : ''}`)])}
<h2>Evaluation: recall@k per mode</h2><div class="charts">${canvases(charts, 'eval')}</div>${recallTable(run)}${rerankTable(run)}
<h2>Stages</h2>${summaryTable(run)}<div class="charts">${canvases(charts, 'overview')}</div>
<h2>Training</h2>${stages.map((s) => stageSection(s, charts)).join('\n')}
<h2>Machine and engine</h2><p class="meta">Where this report was written (the stages' own device is in their rows above).</p>${engine}
${chartScripts(charts, p.chartJs)}
</body></html>
`;
}
