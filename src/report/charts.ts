// Chart.js configurations (plain JSON, so they can be inlined into the page) from RunData: per
// training stage loss (raw and smoothed), learning rate, gradient norm, throughput and accuracy
// per epoch; per GAN stage its losses, penalty, Wasserstein estimate and MSE per epoch; recall@k
// of every eval stage per mode; wall time per stage. A chart is made only when it has data, so
// every chart the page holds has something to draw (the browser test counts them).
import type { ModeCurve, RunData, StageData, StepPoint } from './types.js';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface Dataset {
  [key: string]: Json;
  label: string;
  data: Array<{ x: number; y: number | null }> | Array<number | null>;
}

export interface ChartSpec {
  /** The canvas id in the page. */
  id: string;
  title: string;
  /** 'overview', 'eval' or a stage's name: where the page puts it. */
  section: string;
  /** Across the whole row, this tall (CSS pixels); default one grid cell of 260. */
  wide?: boolean;
  height?: number;
  config: { type: 'line' | 'bar'; data: { labels?: string[]; datasets: Dataset[] }; options: { [key: string]: Json } };
}

const PALETTE = ['#4269d0', '#efb118', '#ff725c', '#6cc5b0', '#3ca951', '#ff8ab7', '#a463f2', '#97bbf5', '#9c6b4e', '#9498a0'];
export const color = (i: number): string => PALETTE[i % PALETTE.length]!;

/** TensorBoard's smoothing: an exponential moving average, debiased at the start; gaps stay gaps. */
export function smooth(values: ReadonlyArray<number | null>, weight = 0.8): Array<number | null> {
  let last = 0,
    n = 0;
  return values.map((v) => {
    if (v === null) return null;
    last = last * weight + (1 - weight) * v;
    n++;
    return last / (1 - weight ** n);
  });
}

const hasData = (ys: ReadonlyArray<number | null>) => ys.some((y) => y !== null);

function axes(x: string, y: string, extra: { [key: string]: Json } = {}): { [key: string]: Json } {
  return {
    // Epochs are whole numbers: no 0.5 ticks.
    x: { type: 'linear', title: { display: true, text: x }, ...(x === 'epoch' ? { ticks: { stepSize: 1 } } : {}) },
    y: { title: { display: true, text: y } },
    ...extra,
  };
}

function lineChart(id: string, title: string, section: string, datasets: Dataset[], scales: { [key: string]: Json }): ChartSpec {
  return {
    id,
    title,
    section,
    config: {
      type: 'line',
      data: { datasets },
      options: {
        parsing: true,
        spanGaps: true,
        interaction: { mode: 'nearest', intersect: false },
        plugins: { title: { display: true, text: title }, legend: { display: datasets.length > 1 } },
        scales,
      },
    },
  };
}

const series = (xs: readonly number[], ys: ReadonlyArray<number | null>) => xs.map((x, i) => ({ x, y: ys[i] ?? null }));

function line(label: string, data: Dataset['data'], i: number, o: { [key: string]: Json } = {}): Dataset {
  return { label, data, borderColor: color(i), backgroundColor: color(i), borderWidth: 2, pointRadius: 0, ...o };
}

function trainCharts(s: StageData, id: (k: string) => string): ChartSpec[] {
  const out: ChartSpec[] = [];
  const xs = s.steps.map((p) => p.updates);
  const pick = (f: (p: StepPoint) => number | null) => s.steps.map(f);
  const loss = pick((p) => p.loss);
  if (hasData(loss)) {
    // One point per logged window: the raw line is faint, the smoothed one carries the trend.
    const few = s.steps.length < 20;
    out.push(
      lineChart(
        id('loss'),
        `${s.name}: training loss`,
        s.name,
        [
          // Chart.js draws a lower `order` on top: the smoothed line over the raw one.
          line('loss', series(xs, loss), 0, {
            borderWidth: 1,
            borderColor: '#97bbf5',
            backgroundColor: '#97bbf5',
            pointRadius: few ? 2 : 0,
            order: 1,
          }),
          line('smoothed', series(xs, smooth(loss)), 0, { order: 0 }),
        ],
        axes('optimizer updates', 'loss'),
      ),
    );
  }
  const lr = pick((p) => p.lr);
  if (hasData(lr))
    out.push(lineChart(id('lr'), `${s.name}: learning rate`, s.name, [line('lr', series(xs, lr), 1)], axes('optimizer updates', 'lr')));
  const norm = pick((p) => p.gradNorm);
  if (hasData(norm))
    out.push(
      lineChart(
        id('gradnorm'),
        `${s.name}: gradient norm (before clipping)`,
        s.name,
        [
          line('grad norm', series(xs, norm), 2, { borderWidth: 1, borderColor: '#ffb3a8', backgroundColor: '#ffb3a8', order: 1 }),
          line('smoothed', series(xs, smooth(norm)), 2, { order: 0 }),
        ],
        axes('optimizer updates', 'L2 norm'),
      ),
    );
  const sps = pick((p) => p.stepsPerSecond),
    seq = pick((p) => p.sequencesPerSecond);
  if (hasData(sps) || hasData(seq))
    out.push(
      lineChart(
        id('speed'),
        `${s.name}: throughput`,
        s.name,
        [line('steps/s', series(xs, sps), 4, { yAxisID: 'y' }), line('sequences/s', series(xs, seq), 5, { yAxisID: 'y1' })],
        axes('optimizer updates', 'steps/s', {
          y1: { position: 'right', title: { display: true, text: 'sequences/s' }, grid: { drawOnChartArea: false } },
        }),
      ),
    );
  const acc = s.epochs.map((e) => e.accuracy);
  if (hasData(acc))
    out.push(
      lineChart(
        id('accuracy'),
        `${s.name}: in-batch validation accuracy per epoch (-1: before training)`,
        s.name,
        [
          line(
            'accuracy',
            series(
              s.epochs.map((e) => e.epoch),
              acc,
            ),
            6,
            { pointRadius: 3 },
          ),
        ],
        axes('epoch', 'accuracy'),
      ),
    );
  return out;
}

function ganCharts(s: StageData, id: (k: string) => string): ChartSpec[] {
  const out: ChartSpec[] = [];
  const xs = s.gan.map((e) => e.epoch);
  const col = (f: (e: StageData['gan'][number]) => number | null) => series(xs, s.gan.map(f));
  const pts = { pointRadius: 3 };
  const sets = (list: Array<[string, Dataset['data']]>, from: number) =>
    list
      .filter(([, d]) => hasData(d.map((p) => (typeof p === 'object' && p !== null ? p.y : p))))
      .map(([l, d], i) => line(l, d, from + i, pts));
  const losses = sets(
    [
      ['critic loss', col((e) => e.disc)],
      ['generator loss', col((e) => e.gen)],
    ],
    0,
  );
  if (losses.length)
    out.push(lineChart(id('gan-loss'), `${s.name}: critic and generator losses per epoch`, s.name, losses, axes('epoch', 'loss')));
  const wgan = sets(
    [
      ['Wasserstein estimate D(real) - D(fake)', col((e) => e.wasserstein)],
      ['gradient penalty (x lambda)', col((e) => e.penalty)],
    ],
    2,
  );
  if (wgan.length)
    out.push(
      lineChart(id('gan-wgan'), `${s.name}: Wasserstein estimate and gradient penalty per epoch`, s.name, wgan, axes('epoch', 'value')),
    );
  const mse = sets([['MSE of generated to real features', col((e) => e.mse)]], 4);
  if (mse.length) out.push(lineChart(id('gan-mse'), `${s.name}: MSE per epoch`, s.name, mse, axes('epoch', 'MSE')));
  return out;
}

/** One chart per mode, a line per eval stage: how each stage moved recall, seen and unseen apart. */
function recallCharts(run: RunData): ChartSpec[] {
  const evals = run.stages.filter((s) => s.recall.length > 0);
  const modes = [...new Set(evals.flatMap((s) => s.recall.map((m) => m.mode)))];
  return modes.map((mode, mi) => {
    // Stages that evaluated the same model on the same mentions (eval-final, and cross-candidates
    // at its own top k) draw one line, named for both: one curve is the start of the other.
    const curves: Array<{ names: string[]; i: number; points: ModeCurve['points'] }> = [];
    const starts = (a: ModeCurve['points'], b: ModeCurve['points']) =>
      a.length <= b.length && a.every((p, j) => p.k === b[j]!.k && p.recall === b[j]!.recall);
    evals.forEach((s, i) => {
      const m = s.recall.find((r) => r.mode === mode);
      if (!m) return;
      const same = curves.find((c) => starts(m.points, c.points) || starts(c.points, m.points));
      if (!same) curves.push({ names: [s.name], i, points: m.points });
      else {
        same.names.push(s.name);
        if (m.points.length > same.points.length) same.points = m.points;
      }
    });
    const sets = curves.map((c) =>
      line(
        c.names.join(' = '),
        c.points.map((p) => ({ x: p.k, y: p.recall })),
        c.i,
        { pointRadius: c.points.length > 10 ? 0 : 3 },
      ),
    );
    const maxK = Math.max(1, ...curves.flatMap((c) => c.points.map((p) => p.k)));
    return lineChart(
      `chart-recall-${mi}`,
      `recall@k, ${mode}`,
      'eval',
      sets,
      axes('k', 'recall', {
        x: { type: 'linear', min: 1, max: maxK, title: { display: true, text: 'k' } },
        y: { min: 0, max: 1, title: { display: true, text: 'recall' } },
      }),
    );
  });
}

function wallTimeChart(run: RunData): ChartSpec[] {
  const timed = run.stages.filter((s) => s.seconds !== null);
  if (timed.length === 0) return [];
  return [
    {
      id: 'chart-walltime',
      title: 'wall time per stage (s)',
      section: 'overview',
      wide: true,
      height: Math.max(160, 40 + 22 * timed.length),
      config: {
        type: 'bar',
        data: {
          labels: timed.map((s) => s.name),
          datasets: [{ label: 'seconds', data: timed.map((s) => s.seconds), backgroundColor: timed.map((_, i) => color(i)) }],
        },
        options: {
          indexAxis: 'y',
          plugins: { title: { display: true, text: 'wall time per stage (s)' }, legend: { display: false } },
          scales: { x: { title: { display: true, text: 'seconds' } }, y: { ticks: { autoSkip: false } } },
        },
      },
    },
  ];
}

/** Each cross-encoder evaluation: its accuracy per mode beside the bi-encoder's first candidate and its recall@k ceiling. */
function rerankCharts(run: RunData): ChartSpec[] {
  return run.stages
    .filter((s) => s.rerank.length > 0)
    .map((s, i) => {
      const labels = s.rerank.map((m) => m.mode);
      const bar = (label: string, data: Array<number | null>, c: number): Dataset => ({ label, data, backgroundColor: color(c) });
      return {
        id: `chart-rerank-${i}`,
        title: `${s.name}: accuracy per mode (all mentions)`,
        section: 'eval',
        config: {
          type: 'bar',
          data: {
            labels,
            datasets: [
              bar(
                'cross-encoder',
                s.rerank.map((m) => m.cross),
                0,
              ),
              bar(
                'bi-encoder top 1',
                s.rerank.map((m) => m.biencoder),
                1,
              ),
              bar(
                'bi-encoder recall@k (ceiling)',
                s.rerank.map((m) => m.recallAtK),
                2,
              ),
            ],
          },
          options: {
            plugins: { title: { display: true, text: `${s.name}: accuracy per mode (all mentions)` } },
            scales: { y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } } },
          },
        },
      };
    });
}

export function buildCharts(run: RunData): ChartSpec[] {
  const out = [...wallTimeChart(run), ...recallCharts(run), ...rerankCharts(run)];
  run.stages.forEach((s, i) => {
    const id = (k: string) => `chart-s${i}-${k}`;
    if (s.kind === 'train') out.push(...trainCharts(s, id));
    if (s.kind === 'gan') out.push(...ganCharts(s, id));
  });
  return out;
}
