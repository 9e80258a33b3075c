import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InterruptedError, InterruptFlag } from '../../src/train/interrupt.js';
import { cleanup, smallDataset, tmp } from '../eval/retrieve-helpers.js';

const repo = resolve(import.meta.dirname, '..', '..');

describe('InterruptFlag in process', () => {
  it('a simulated SIGINT raises the flag; the poll saves, then throws with code 130 and the hint', async () => {
    const notes: string[] = [];
    const flag = new InterruptFlag({ notify: (m) => notes.push(m), onForce: () => notes.push('forced') }).install();
    try {
      await flag.checkpointIfRequested(() => void notes.push('saved too early'), 'hint');
      process.emit('SIGINT');
      expect(flag.requested).toBe(true);
      expect(notes[0]).toMatch(/^SIGINT received: finishing the current step/);
      let saved = 0;
      const err = await flag
        .checkpointIfRequested(() => void saved++, 'resume with: biofeg train-biencoder --resume out/last')
        .catch((e: unknown) => e);
      expect(saved).toBe(1);
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).toBe(130);
      expect((err as Error).message).toBe(
        'interrupted by SIGINT; a checkpoint was written. resume with: biofeg train-biencoder --resume out/last',
      );
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

describe('a real SIGINT to `biofeg train-biencoder`', () => {
  it('finishes the step in progress, writes last/, exits 130 with the resume hint; --resume finishes the run', async () => {
    const data = await smallDataset({ train: 400, val: 8, test: 8 });
    const out = join(tmp('biofeg-intr-'), 'model');
    const args = [
      '--import',
      'tsx',
      join(repo, 'src', 'cli', 'main.ts'),
      'train-biencoder',
      '--data_path',
      data.processed,
      '--output_path',
      out,
      '--entity_dict_path',
      data.entities,
      '--bert_model',
      'tiny',
      '--max_context_length',
      '32',
      '--max_cand_length',
      '32',
      '--train_batch_size',
      '4',
      '--eval_batch_size',
      '8',
      '--num_train_epochs',
      '1',
      '--device',
      'cpu',
      '--threads',
      '1',
    ];
    const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Progress lines (stderr is not a terminal): interrupt once the epoch is under way.
      if (!sent && /epoch 0: [1-9]\d*%/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(sent).toBe(true);
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('SIGINT received: finishing the current step');
    expect(stderr).toMatch(/biofeg: interrupted by SIGINT; a checkpoint was written\. .*--resume/);
    const state = JSON.parse(readFileSync(join(out, 'last', 'trainer_state.json'), 'utf8')) as { epoch: number; microStep: number };
    expect(state.epoch).toBe(0);
    expect(state.microStep).toBeGreaterThan(0);
    expect(state.microStep).toBeLessThan(100);
    const again = spawn(process.execPath, [...args, '--resume', '--silent'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out2 = '';
    again.stdout.on('data', (d: Buffer) => (out2 += d.toString()));
    expect(await new Promise<number | null>((res) => again.on('exit', (c) => res(c)))).toBe(0);
    expect(out2).toMatch(/resuming from .*last: epoch 0, micro-batch \d+/);
    expect(existsSync(join(out, 'epoch_0', 'model.safetensors'))).toBe(true);
    cleanup();
  }, 240_000);
});
