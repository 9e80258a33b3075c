/**
 * The README's picture of a report: writes the report of a run folder (default runs/demo, made by
 * `npx biofeg demo`), opens it in headless Chromium (scripts/report-browser.ts, as the browser
 * test does), checks every chart was drawn and saves the top of the page as a PNG (recall per mode,
 * wall time, the bi-encoder's curves and the GAN's losses; tables folded away for the picture).
 *
 *   node --import tsx scripts/report-screenshot.ts [runDir] [out.png]   (default: runs/demo docs/report.png)
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { writeReport } from '../src/report/index.js';
import { openReport } from './report-browser.js';

const runDir = process.argv[2] ?? 'runs/demo';
const out = resolve(process.argv[3] ?? 'docs/report.png');
const r = await writeReport({ runDir });
mkdirSync(dirname(out), { recursive: true });
// The picture: recall per mode, wall time, the bi-encoder's curves and the GAN's losses; the tables
// and the other stages are folded away for it (the page itself holds them all).
const page = await openReport(r.path, {
  screenshot: out,
  width: 1200,
  clipHeight: 1930,
  hide: [
    // Recall of other modes than test, test_seen, test_unseen (cross-candidates' train and valid).
    'figure:has(> canvas[id^="chart-recall-"]:not(#chart-recall-0):not(#chart-recall-1):not(#chart-recall-2))',
    '.rerank-table',
    '.recall-table',
    '.stages-table',
    'section.stage:not(#stage-biencoder):not(#stage-gan)',
    '#stage-biencoder figure:nth-child(n + 4)',
    'section.stage table.kv',
    'section.stage details',
    'ul.missing',
  ],
});
const blank = page.charts.filter((c) => c.points === 0 || c.inked === 0).map((c) => c.id);
if (page.errors.length > 0 || page.rendered !== r.charts || blank.length > 0) {
  process.stderr.write(
    `report-screenshot: the page did not render whole: ${page.rendered} of ${r.charts} charts drawn${blank.length ? `, blank: ${blank.join(', ')}` : ''}\n${page.errors.join('\n')}\n`,
  );
  process.exit(1);
}
process.stdout.write(`${r.path}: ${r.charts} charts drawn; ${out} written\n`);
