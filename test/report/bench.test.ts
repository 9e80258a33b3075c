// npm run bench:report's reading side: every bench JSON in bench/results/ (each bench writes its
// own shape) yields ours-vs-peer figures equal to the file's own numbers; a test report and files
// of unknown shape are named, not fatal.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { benchPage, readBenchDir } from '../../bench/report.js';
import { readBenchJson } from '../../bench/report-shapes.js';

const j = (f: string) => JSON.parse(readFileSync(`bench/results/${f}`, 'utf8')) as Record<string, unknown>;
type R = Array<Record<string, Record<string, number> & { seqPerSec: number }>>;

describe('bench:report', () => {
  const files = readBenchDir('bench/results');

  it('reads every bench file in bench/results and its subfolders, each by a reader of its shape', () => {
    expect(files.map((f) => f.file)).toContain('nvidia-h200/bert-cuda-bf16-base.json');
    const noRows = files.filter((f) => f.rows.length === 0);
    expect(noRows.map((f) => [f.file, f.shape])).toEqual([['nvidia-h200/gpu-tests.json', 'test report']]);
    expect(files.filter((f) => f.shape === 'unknown')).toEqual([]);
    for (const f of files) if (f.rows.length) expect(f.machine, f.file).not.toBeNull();
  });

  it("shows the file's own numbers, ours first", () => {
    const bert = files.find((f) => f.file === 'bert-cpu-tiny-small.json')!;
    const raw = j('bert-cpu-tiny-small.json')['results'] as R;
    expect(bert.rows[0]!.values).toEqual([
      { side: 'ours', value: raw[0]!['ours']!.seqPerSec },
      { side: 'torch', value: raw[0]!['torch']!.seqPerSec },
    ]);
    const serve = files.find((f) => f.file === 'serve-cpu-zen4.json')!;
    expect(serve.rows[0]!.values.map((v) => v.side)).toEqual(['biofeg', 'onnx-peer']);
    const k = files.find((f) => f.file === 'kernels-cpu.json')!;
    expect(k.rows[0]!.values.map((v) => v.side)).toEqual(['ours', 'OpenBLAS']);
    const loop = files.find((f) => f.file === 'biencoder-loop-cpu.json')!;
    expect(loop.rows[0]).toMatchObject({ unit: 'ms/step', higherIsBetter: false });
    const scale = files.find((f) => f.file === 'scale-cpu.json')!;
    const rawScale = j('scale-cpu.json')['results'] as Array<Record<string, number | string>>;
    expect(scale.rows[0]!.values).toEqual(
      rawScale.map((r) => ({
        side: `${r['ranks']} rank(s)${r['all-reduce'] !== undefined && r['ranks'] !== 1 ? `, ${r['all-reduce']}` : ''}`,
        value: r['steps/s'],
      })),
    );
  });

  it('names what it cannot read', () => {
    expect(readBenchJson('x.json', '{"results": [').shape).toBe('unreadable');
    expect(readBenchJson('x.json', '{"something": 1}')).toMatchObject({ shape: 'unknown', rows: [] });
    expect(readBenchJson('x.json', '[1,2]').note).toMatch(/not a JSON object/);
  });

  it('makes one chart per file and unit', () => {
    const page = benchPage('bench/results', files, '/* chart.js */');
    const groups = new Set(files.flatMap((f) => f.rows.map((r) => `${f.file} ${r.unit}`)));
    expect(page.charts).toBe(groups.size);
    expect(page.html.match(/<canvas /g)).toHaveLength(groups.size);
  });
});
