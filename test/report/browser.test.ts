// The report in a real browser: headless Chromium (Debian's package, via puppeteer-core) opens a
// report of a synthetic pipeline from disk, and every chart must be drawn: as many as the page
// holds and as the run has data for, each with points and ink on its canvas, no console or page
// error, no request beyond the file itself (it is self-contained). Saves a screenshot in the
// test's temp folder. Skips, saying why, where no Chromium is installed (.ci/run installs it).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { writeFileSync } from 'node:fs';

import { benchPage, readBenchDir } from '../../bench/report.js';
import { writeReport } from '../../src/index.js';
import { chartJsSource } from '../../src/report/index.js';
import { findChromium, openReport } from '../../scripts/report-browser.js';
import { trainLines, writeCross, writeLog, writePipeline } from './fixture.js';

const chromium = findChromium();
if (!chromium) console.warn('report browser test skipped: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)');
const dir = mkdtempSync(join(tmpdir(), 'biofeg-report-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!chromium)('report in headless Chromium', () => {
  it('draws every chart of a pipeline report, offline, without errors, and screenshots it', async () => {
    const root = join(dir, 'run');
    const { charts } = writePipeline(root);
    const cross = writeCross(root); // the reranking bars and the cross-encoder's curves
    // An unfinished stage beside them: shown, not breaking the page.
    writeLog(join(root, 'biencoder-hard'), trainLines(2, 6, 4));
    const r = await writeReport({ runDir: root, engine: null });
    // biencoder-hard adds loss, lr, grad norm, throughput and accuracy (before training only).
    expect(r.charts).toBe(charts + cross.charts + 5);
    const shot = join(dir, 'report.png');
    const page = await openReport(r.path, { screenshot: shot, ...(chromium ? { chromium } : {}) });
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    expect(page.expected).toBe(r.charts);
    expect(page.rendered).toBe(r.charts);
    expect(page.charts).toHaveLength(r.charts);
    for (const c of page.charts) {
      expect(c.points, c.id).toBeGreaterThan(0);
      // Axes, labels and lines: a drawn 380x250 chart inks thousands of pixels; a blank canvas none.
      expect(c.inked, c.id).toBeGreaterThan(2000);
    }
    expect(page.charts.map((c) => c.id)).toEqual(expect.arrayContaining(['chart-recall-2', 'chart-rerank-0', 'chart-walltime']));
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    console.log(`report screenshot: ${shot}`);
  });

  it('draws every chart of the bench page (npm run bench:report)', async () => {
    const page = benchPage('bench/results', readBenchDir('bench/results'), chartJsSource());
    const file = join(dir, 'bench.html');
    writeFileSync(file, page.html);
    const r = await openReport(file, { screenshot: join(dir, 'bench.png'), ...(chromium ? { chromium } : {}) });
    expect(r.errors).toEqual([]);
    expect(r.requests).toEqual([]);
    expect(r.rendered).toBe(page.charts);
    expect(r.charts).toHaveLength(page.charts);
    for (const c of r.charts) expect(c.points, c.id).toBeGreaterThan(0);
    for (const c of r.charts) expect(c.inked, c.id).toBeGreaterThan(2000);
  });
});
