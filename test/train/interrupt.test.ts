import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InterruptedError, InterruptFlag } from '../../src/train/interrupt.js';

const repo = resolve(import.meta.dirname, '..', '..');

describe('InterruptFlag in process', () => {
  it('a simulated SIGINT raises the flag; the poll saves, then throws with code 130 and the hint', async () => {
    const notes: string[] = [];
    const flag = new InterruptFlag({ notify: (m) => notes.push(m), onForce: () => notes.push('forced') }).install();
    try {
      await flag.checkpointIfRequested(() => notes.push('saved too early'), 'hint');
      process.emit('SIGINT');
      expect(flag.requested).toBe(true);
      expect(notes[0]).toMatch(/^SIGINT received: finishing the current step/);
      let saved = 0;
      const err = await flag.checkpointIfRequested(() => void saved++, 'resume with: biofeg train-biencoder --resume out/last').catch((e: unknown) => e);
      expect(saved).toBe(1);
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).toBe(130);
      expect((err as Error).message).toBe('interrupted by SIGINT; a checkpoint was written. resume with: biofeg train-biencoder --resume out/last');
      process.emit('SIGTERM'); // second signal: force
      expect(notes).toEqual([notes[0], 'forced']);
    } finally {
      flag.uninstall();
    }
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('SIGTERM maps to exit code 143', async () => {
    const flag = new InterruptFlag({ notify: () => {} });
    flag.raise('SIGTERM');
    await expect(flag.checkpointIfRequested(() => {}, 'h')).rejects.toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
  });
});

describe('a real SIGINT to a training-like loop', () => {
  it('finishes the step in progress, writes a checkpoint and exits 130 with the resume hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'biofeg-intr-'));
    const script = join(dir, 'loop.mts');
    const src = (p: string): string => pathToFileURL(join(repo, 'src', 'train', p)).href;
    writeFileSync(
      script,
      `import { InterruptFlag, exitOnInterrupt } from ${JSON.stringify(src('interrupt.ts'))};
import { writeCheckpointDir } from ${JSON.stringify(src('checkpoint-dir.ts'))};
const out = process.argv[2];
const flag = new InterruptFlag().install();
let done = 0;
try {
  for (let step = 0; step < 1000; step++) {
    // A "step" of two halves: a signal in the middle must not cut it short.
    await new Promise((r) => setTimeout(r, 20));
    if (step === 2) {
      process.stdout.write('ready\\n');
      // Hold this step open until the signal has arrived, so it lands mid-step however slow the machine.
      const t0 = Date.now();
      while (!flag.requested && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 20));
    done = step + 1;
    await flag.checkpointIfRequested(() => writeCheckpointDir(out + '/last', [{ name: 'state.json', data: JSON.stringify({ steps: done }) }]), 'resume with --resume ' + out + '/last');
  }
  process.exit(0);
} catch (e) {
  exitOnInterrupt(e);
}
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          child.kill('SIGINT');
          res();
        }
      });
      child.on('exit', () => rej(new Error(`child exited before ready: ${stderr}`)));
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT received: finishing the current step');
    expect(stderr).toContain(`biofeg: interrupted by SIGINT; a checkpoint was written. resume with --resume ${dir}/last`);
    const state = JSON.parse(readFileSync(join(dir, 'last', 'state.json'), 'utf8')) as { steps: number };
    expect(state.steps).toBe(3); // the signal came during step index 2; it completed, then the loop stopped
    expect(readdirSync(dir).sort()).toEqual(['last', 'loop.mts']);
  });
});
