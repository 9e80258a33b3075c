// The report's reading side on synthetic run folders: a finished pipeline, a stage interrupted
// mid-epoch (cut-off last log line, no DONE.json), a NaN-stopped GAN, stages not run yet, one
// stage's own folder, and folders that are not runs (a typed InputError). Plus the page itself:
// self-contained (no external URL), the data inlined safely.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { InputError, readRun, SettingsError, writeReport } from '../../src/index.js';
import { register } from '../../src/cli/commands/report.js';
import { buildCharts, smooth } from '../../src/report/charts.js';
import { loggedSeconds, type LogRecord } from '../../src/report/log.js';
import { runCli } from '../support/cli.js';
import { ganLines, trainLines, writeCross, writeDone, writeEval, writeLog, writePipeline } from './fixture.js';

const base = mkdtempSync(join(tmpdir(), 'biofeg-report-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(base, `r${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

describe('readRun', () => {
  it('reads a finished pipeline in the pipeline order with curves, GAN epochs and recall', () => {
    const root = fresh();
    const { charts } = writePipeline(root);
    const run = readRun(root);
    expect(run.layout).toBe('pipeline');
    expect(run.stages.map((s) => s.name)).toEqual(['biencoder', 'eval-biencoder', 'gan', 'generate', 'finetune', 'eval-finetune']);
    expect(run.stages.map((s) => s.kind)).toEqual(['train', 'eval', 'gan', 'generate', 'train', 'eval']);
    expect(run.stages.every((s) => s.status === 'done')).toBe(true);
    expect(run.missing).toEqual([]);
    const bi = run.stages[0]!;
    expect(bi.steps).toHaveLength(30);
    expect(bi.steps[4]).toMatchObject({ updates: 5, epoch: 0, stepsPerSecond: 12, sequencesPerSecond: 340 });
    expect(bi.epochs.map((e) => e.epoch)).toEqual([-1, 0, 1, 2]);
    expect(bi.seconds).toBe(40);
    expect(bi.settings).toMatchObject({ numTrainEpochs: 3 });
    const gan = run.stages[2]!;
    expect(gan.gan.map((e) => e.wasserstein)).toEqual([6.5, 7.5, 8.5]);
    const ev = run.stages[1]!;
    expect(ev.recall.map((m) => m.mode)).toEqual(['test', 'test_seen', 'test_unseen']);
    expect(ev.recall[0]!.points).toHaveLength(64); // the whole k = 1..64 curve
    expect(ev.recall[0]!.points[63]!.recall).toBe(ev.recall[0]!.ranks['64']);
    expect(buildCharts(run)).toHaveLength(charts);
  });

  it('shows an interrupted stage up to where it stopped and says what is missing', () => {
    const root = fresh();
    writePipeline(root);
    // The hard round was asked for but never reached; finetune was killed mid-epoch, mid-line.
    writeFileSync(join(root, 'pipeline.json'), JSON.stringify({ hard_round: true }));
    rmSync(join(root, 'finetune'), { recursive: true });
    rmSync(join(root, 'eval-finetune'), { recursive: true });
    writeLog(join(root, 'finetune'), trainLines(2, 8, 5), '{"time":"2026-01-01T00:00:09.000Z","event":"st');
    const run = readRun(root);
    const ft = run.stages.find((s) => s.name === 'finetune')!;
    expect(ft.status).toBe('unfinished');
    expect(ft.steps).toHaveLength(5);
    expect(ft.missing.join('\n')).toMatch(/line 9 is cut off/);
    expect(ft.missing.join('\n')).toMatch(/no DONE\.json/);
    expect(ft.missing.join('\n')).toMatch(/0 of 2 epochs logged/);
    expect(run.stages.filter((s) => s.status === 'not run').map((s) => s.name)).toEqual([
      'eval-finetune',
      'biencoder-hard',
      'generate-hard',
      'finetune-hard',
      'eval-final',
    ]);
    expect(run.missing[0]).toMatch(/stages not run yet: eval-finetune, biencoder-hard/);
    // Its charts: loss, lr, grad norm, throughput (no epoch finished: the accuracy chart has the before-training point only).
    const ids = buildCharts(run).map((c) => c.id);
    expect(ids.filter((id) => id.startsWith('chart-s4-'))).toEqual([
      'chart-s4-loss',
      'chart-s4-lr',
      'chart-s4-gradnorm',
      'chart-s4-speed',
      'chart-s4-accuracy',
    ]);
  });

  it('reports a NaN-stopped GAN as failed, with the epochs before it', () => {
    const root = fresh();
    const lines = ganLines(2);
    lines.push(
      {
        time: '2026-01-01T00:00:30.000Z',
        event: 'error',
        kind: 'non-finite',
        message: 'critic loss is NaN at step 17 (epoch 2, batch 3)',
        kept: 'gan/epoch_1',
      },
      {
        time: '2026-01-01T00:00:30.000Z',
        event: 'failed',
        message: 'critic loss is NaN at step 17 (epoch 2, batch 3)',
        code: 'ERR_BIOFEG_NONFINITE',
      },
    );
    writeLog(root, lines);
    const run = readRun(root);
    expect(run.layout).toBe('stage');
    const s = run.stages[0]!;
    expect(s.kind).toBe('gan');
    expect(s.status).toBe('failed');
    expect(s.failure).toMatch(/NaN at step 17/);
    expect(s.gan).toHaveLength(2);
    expect(s.missing.join('\n')).toMatch(/2 of 2 epochs logged|no DONE\.json/);
  });

  it('reads NaN values logged as strings as gaps, and says so', () => {
    const root = fresh();
    const lines = trainLines(1, 6);
    lines.push({
      time: '2026-01-01T00:00:20.000Z',
      event: 'step',
      epoch: 1,
      step: 0,
      updates: 7,
      loss: 'NaN',
      lr: 1e-4,
      gradNorm: 'Infinity',
    });
    writeLog(root, lines);
    const s = readRun(root).stages[0]!;
    expect(s.status).toBe('failed');
    expect(s.failure).toMatch(/non-finite/);
    expect(s.steps.find((p) => p.updates === 7)).toMatchObject({ loss: null, gradNorm: null, lr: 1e-4 });
  });

  it('keeps the later line of an update logged twice (a resumed run)', () => {
    const root = fresh();
    const first = trainLines(1, 6, 4);
    const again = trainLines(1, 6).map((l) => (l['event'] === 'step' ? { ...l, loss: 9 } : l));
    writeLog(root, [...first, ...again]);
    writeDone(root, 'biencoder', 3, {});
    const s = readRun(root).stages[0]!;
    expect(s.status).toBe('done');
    expect(s.steps.map((p) => p.updates)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.steps.every((p) => p.loss === 9)).toBe(true);
  });

  it('reads the cross-encoder stages: its training curves and its accuracy beside the bi-encoder', () => {
    const root = fresh();
    const base = writePipeline(root);
    const cross = writeCross(root);
    writeFileSync(join(root, 'pipeline.json'), JSON.stringify({ hard_round: false, crossencoder: true }));
    const run = readRun(root);
    expect(run.stages.map((s) => s.name).slice(-3)).toEqual(['cross-candidates', 'crossencoder', 'eval-crossencoder']);
    expect(run.stages.find((s) => s.name === 'cross-candidates')?.status).toBe('not run');
    const ce = run.stages.find((s) => s.name === 'crossencoder')!;
    expect(ce.kind).toBe('train');
    expect(ce.steps.map((p) => p.updates)).toEqual([1, 2, 3, 4, 5, 6]);
    const ev = run.stages.find((s) => s.name === 'eval-crossencoder')!;
    expect(ev.kind).toBe('eval');
    expect(ev.rerank.map((m) => [m.mode, m.cross, Number(m.biencoder?.toFixed(6))])).toEqual([
      ['test', 0.4, 0.3],
      ['test_seen', 0.3, 0.25],
      ['test_unseen', 0.2, 0.2],
    ]);
    expect(ev.missing).toEqual([]);
    const ids = buildCharts(run).map((c) => c.id);
    expect(ids).toHaveLength(base.charts + cross.charts);
    expect(ids).toContain('chart-rerank-0');
  });

  it('draws one recall line for stages that evaluated the same model (eval-final and cross-candidates)', () => {
    const root = fresh();
    writeEval(join(root, 'eval-final'), 'eval-final', 0.5);
    writeEval(join(root, 'cross-candidates'), 'cross-candidates', 0.5, 8); // the same model at its own top k
    writeEval(join(root, 'eval-biencoder'), 'eval-biencoder', 0.3);
    const recall = buildCharts(readRun(root)).filter((c) => c.id.startsWith('chart-recall-'));
    expect(recall).toHaveLength(3);
    for (const c of recall) expect(c.config.data.datasets.map((d) => d.label)).toEqual(['eval-biencoder', 'eval-final = cross-candidates']);
  });

  it('a folder that is not a run is an InputError that says what a run holds', () => {
    const empty = fresh();
    writeFileSync(join(empty, 'notes.txt'), 'hello');
    mkdirSync(join(empty, 'sub'));
    expect(() => readRun(empty)).toThrow(InputError);
    expect(() => readRun(empty)).toThrow(/not a biofeg run folder: .*DONE\.json, log\.jsonl, eval_report\.json.*pipeline\.json/);
    // Stage-like folders of other names (a folder of many runs) make no pipeline: the message points at them.
    writeLog(join(empty, 'my-model'), trainLines(1, 2));
    expect(() => readRun(empty)).toThrow(/subfolders my-model look like stage folders: report one of them/);
    expect(readRun(join(empty, 'my-model')).layout).toBe('stage');
    expect(() => readRun(join(empty, 'nope'))).toThrow(/no such folder/);
    expect(() => readRun(join(empty, 'notes.txt'))).toThrow(/not a folder/);
    try {
      readRun(empty);
    } catch (e) {
      expect((e as InputError).code).toBe('ERR_BIOFEG_INPUT');
    }
  });

  it('a damaged DONE.json or eval_report.json is said, not thrown', () => {
    const root = fresh();
    writeEval(root, 'eval', 0.5);
    writeFileSync(join(root, 'eval_report.json'), '{"modes": [');
    writeFileSync(join(root, 'DONE.json'), 'garbage');
    const s = readRun(root).stages[0]!;
    expect(s.kind).toBe('eval');
    expect(s.recall).toEqual([]);
    expect(s.missing.join('\n')).toMatch(/DONE\.json cannot be read/);
    expect(s.missing.join('\n')).toMatch(/eval_report\.json cannot be read/);
  });
});

describe('writeReport', () => {
  it('writes one self-contained page: Chart.js and the data inlined, no external URL', async () => {
    const root = fresh();
    const { charts } = writePipeline(root);
    // A stage name that would break out of a <script> if the data were not escaped.
    writeEval(join(root, 'eval-x</script><script>alert(1)</script>'), 'x', 0.1);
    const r = await writeReport({ runDir: root, engine: null });
    expect(r.path).toBe(join(root, 'report.html'));
    expect(r.charts).toBe(charts);
    const html = readFileSync(r.path, 'utf8');
    expect(html).toMatch(/Chart\.js v4/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).not.toContain('<script>alert(1)');
    expect(html.match(/<canvas /g)).toHaveLength(charts);
  });

  it('writes where --out says, and reports what is missing', async () => {
    const root = fresh();
    writeLog(root, trainLines(2, 4, 3));
    const out = join(base, 'elsewhere', 'r.html');
    const r = await writeReport({ runDir: root, out, engine: null });
    expect(r.path).toBe(out);
    expect(r.finished).toBe(0);
    expect(r.missing.join('\n')).toMatch(/no DONE\.json/);
    expect(readFileSync(out, 'utf8')).toContain('no DONE.json: the stage did not finish');
  });
});

describe('loggedSeconds', () => {
  it('spans the first to the last timed line of a log longer than a call takes arguments', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const records: LogRecord[] = Array.from({ length: 300_000 }, (_, i) => ({
      event: 'step',
      time: new Date(t0 + ((i * 7919) % 300_000) * 10).toISOString(),
    }));
    records.push({ event: 'x', time: null });
    expect(loggedSeconds(records)).toBe((299_999 * 10) / 1000);
    expect(loggedSeconds(records.slice(0, 1))).toBeNull();
  });
});

describe('writeReport settings', () => {
  it('refuses settings of a wrong shape with a SettingsError naming the field', async () => {
    const root = fresh();
    writeLog(root, trainLines(1, 2, 2));
    const bad: [unknown, string][] = [
      [undefined, '(settings)'],
      [{}, 'runDir'],
      [{ runDir: 42 }, 'runDir'],
      [{ runDir: '' }, 'runDir'],
      [{ runDir: root, out: 7 }, 'out'],
      [{ runDir: root, engine: 'yes' }, 'engine'],
      [{ runDir: root, stages: 'train' }, 'stages'],
      [{ runDir: root, stages: ['train', 3] }, 'stages'],
      [{ runDir: root, rundir: root }, 'rundir'],
    ];
    for (const [settings, field] of bad) {
      const e = await writeReport(settings as Parameters<typeof writeReport>[0]).catch((x: unknown) => x);
      expect(e, JSON.stringify(settings)).toBeInstanceOf(SettingsError);
      expect((e as SettingsError).field).toBe(field);
    }
    expect(() => readRun(5 as unknown as string)).toThrow(SettingsError);
    expect(() => readRun(root, 'x' as unknown as string[])).toThrow(SettingsError);
    expect(existsSync(join(root, 'report.html'))).toBe(false);
  });
});

describe('biofeg report', () => {
  it('maps RUN_DIR and --out to writeReport, prints the path and what is missing', async () => {
    const root = fresh();
    writeLog(root, trainLines(2, 4, 3));
    const out = join(base, 'cli', 'page.html');
    const r = await runCli(register, 'report', [root, '--out', out]);
    expect(r.stdout).toBe(`report: ${out} (0 of 1 stages finished, 6 charts)\n`);
    expect(r.stderr).toMatch(/^report: r\d+: no DONE\.json/m);
    expect(readFileSync(out, 'utf8')).toContain('<canvas id="chart-s0-loss"');
  });

  it('refuses a folder that is not a run with the typed error', async () => {
    await expect(runCli(register, 'report', [fresh()])).rejects.toThrow(InputError);
  });
});

describe('smooth', () => {
  it('is a debiased moving average that leaves gaps', () => {
    expect(smooth([2, 2, 2])).toEqual([2, 2, 2].map(() => expect.closeTo(2, 12)));
    const s = smooth([0, null, 10], 0.5);
    expect(s[1]).toBeNull();
    expect(s[2]).toBeCloseTo((0.5 * 0 * 0.5 + 0.5 * 10) / (1 - 0.25), 12);
  });
});
