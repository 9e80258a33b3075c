// A report page in headless Chromium (Debian's `chromium` package, driven by puppeteer-core, which
// downloads no browser): is every chart drawn, without console errors, and a screenshot of it.
// Used by test/report/browser.test.ts and scripts/report-screenshot.ts (the README's image).
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import puppeteer from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The system Chromium (CHROMIUM_PATH wins), or undefined. */
export function findChromium(): string | undefined {
  const own = process.env['CHROMIUM_PATH'];
  if (own) return existsSync(own) ? own : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export interface ChartCheck {
  id: string;
  /** Pixels of the canvas that are not blank (drawn by the chart). */
  inked: number;
  /** Points across the chart's datasets. */
  points: number;
}

export interface PageCheck {
  /** data-charts-expected / data-charts-rendered, as the page's own script counted them. */
  expected: number;
  rendered: number;
  charts: ChartCheck[];
  /** console.error lines, page errors and failed requests. */
  errors: string[];
  /** Requests to anything but the file itself (a self-contained page makes none). */
  requests: string[];
}

export interface OpenOptions {
  /** Full-page screenshot to this PNG file. */
  screenshot?: string;
  /** Screenshot of the top of the page only (clip height in CSS pixels), for a small README image. */
  clipHeight?: number;
  width?: number;
  chromium?: string;
  /** CSS selectors hidden before the screenshot (a compact picture; the checks count every chart). */
  hide?: string[];
}

/** Opens `htmlPath` from disk, waits for its charts and checks each drew something. */
export async function openReport(htmlPath: string, o: OpenOptions = {}): Promise<PageCheck> {
  const executablePath = o.chromium ?? findChromium();
  if (!executablePath) throw new Error('no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    // root in CI and containers: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: o.width ?? 1280, height: o.clipHeight ?? 900, deviceScaleFactor: 1 });
    const errors: string[] = [];
    const requests: string[] = [];
    const url = pathToFileURL(htmlPath).href;
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e instanceof Error ? e.message : String(e)}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    page.on('request', (r) => {
      if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForSelector('body[data-charts-rendered]', { timeout: 30_000 });
    const found = await page.evaluate(() => {
      const body = document.body;
      const charts = Array.from(document.querySelectorAll('canvas')).map((c) => {
        const ctx = c.getContext('2d');
        let inked = 0;
        if (ctx && c.width > 0 && c.height > 0) {
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
        }
        // Chart.js's registry of the canvas's chart (the UMD bundle sets window.Chart).
        type Registry = { getChart(c: HTMLCanvasElement): { data: { datasets: Array<{ data: unknown[] }> } } | undefined };
        const reg = (window as Window & { Chart?: Registry }).Chart;
        const chart = reg?.getChart(c);
        const points = chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0;
        return { id: c.id, inked, points };
      });
      return {
        expected: Number(body.getAttribute('data-charts-expected')),
        rendered: Number(body.getAttribute('data-charts-rendered')),
        charts,
      };
    });
    if (o.hide?.length) await page.addStyleTag({ content: `${o.hide.join(',')}{display:none!important}` });
    if (o.screenshot) {
      const path = o.screenshot as `${string}.png`;
      if (o.clipHeight) await page.screenshot({ path, clip: { x: 0, y: 0, width: o.width ?? 1280, height: o.clipHeight } });
      else await page.screenshot({ path, fullPage: true });
    }
    return { ...found, errors, requests };
  } finally {
    await browser.close();
  }
}
