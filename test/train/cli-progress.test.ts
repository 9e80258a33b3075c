import { describe, expect, it } from 'vitest';
import { createProgress, progressLine, type ProgressStream } from '../../src/cli/progress.js';

function sink(isTTY: boolean): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { out, isTTY, columns: 120, write: (s: string) => (out.push(s), true) };
}

describe('progress without a terminal', () => {
  it('prints a line every 10% with rate and ETA, and none twice at the end', () => {
    const s = sink(false);
    let t = 0;
    const p = createProgress({ label: 'encode', total: 200, stream: s, now: () => t });
    for (let i = 0; i < 200; i++) {
      t += 50; // 20 items/s
      p.tick();
    }
    p.stop();
    expect(s.out).toHaveLength(10);
    expect(s.out[0]).toBe('encode: 10% (20/200) 20.0 it/s ETA 9s\n');
    expect(s.out[4]).toBe('encode: 50% (100/200) 20.0 it/s ETA 5s\n');
    expect(s.out[9]).toBe('encode: 100% (200/200) 20.0 it/s in 10s\n');
  });

  it('big jumps print once; stop before the end prints where it stopped', () => {
    const s = sink(false);
    let t = 0;
    const p = createProgress({ label: 'train', total: 1000, stream: s, now: () => t, everyPercent: 25, unit: 'batch' });
    t = 2000;
    p.update(600); // crosses 25% and 50% at once
    t = 3000;
    p.stop();
    expect(s.out).toEqual(['train: 60% (600/1000) 300 batch/s ETA 1s\n', 'train: 60% (600/1000) 200 batch/s ETA 2s\n']);
  });

  it('formats long ETAs', () => {
    expect(progressLine('x', 1, 10000, 1000)).toBe('x: 0% (1/10000) 1.00 it/s ETA 2h46m');
    expect(progressLine('x', 0, 10, 0)).toBe('x: 0% (0/10) 0.00 it/s ETA ?');
  });
});

describe('progress modes', () => {
  it('--silent prints nothing', () => {
    const s = sink(true);
    const p = createProgress({ label: 'x', total: 10, silent: true, stream: s });
    p.tick(10);
    p.stop();
    expect(s.out).toEqual([]);
  });

  it('a terminal gets the cli-progress bar with rate and ETA', () => {
    const s = sink(true);
    let t = 0;
    const p = createProgress({ label: 'encode', total: 4, stream: s, now: () => t });
    t = 1000;
    p.update(2);
    p.stop();
    const text = s.out.join('');
    expect(text).toMatch(/encode \|[█░]+\| 50% 2\/4 \| 2\.00 it\/s \| ETA /);
  });
});
