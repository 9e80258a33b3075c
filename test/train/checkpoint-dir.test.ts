import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BestEpoch,
  copyBestToRoot,
  epochDirName,
  recoverCheckpointDir,
  shouldSaveGanEpoch,
  writeCheckpointDir,
} from '../../src/train/checkpoint-dir.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'biofeg-ckpt-'));

describe('writeCheckpointDir', () => {
  it('writes a new folder from a file list, leaving no temporaries', async () => {
    const root = tmp();
    const dir = join(root, epochDirName(0));
    await writeCheckpointDir(dir, [
      { name: 'model.safetensors', data: new Uint8Array([1, 2, 3]) },
      { name: 'config.json', data: '{"a":1}' },
    ]);
    expect(readdirSync(root)).toEqual(['epoch_0']);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(Array.from(readFileSync(join(dir, 'model.safetensors')))).toEqual([1, 2, 3]);
  });

  it('replaces an existing folder whole (old files do not survive)', async () => {
    const root = tmp();
    const dir = join(root, 'epoch_1');
    await writeCheckpointDir(dir, [
      { name: 'a.bin', data: 'old' },
      { name: 'stale.txt', data: 'x' },
    ]);
    await writeCheckpointDir(dir, (t) => writeFileSync(join(t, 'a.bin'), 'new'));
    expect(readdirSync(dir)).toEqual(['a.bin']);
    expect(readFileSync(join(dir, 'a.bin'), 'utf8')).toBe('new');
    expect(readdirSync(root)).toEqual(['epoch_1']);
  });

  it('a writer that fails leaves the previous good folder untouched and no temporary', async () => {
    const root = tmp();
    const dir = join(root, 'epoch_2');
    await writeCheckpointDir(dir, [{ name: 'w.bin', data: 'good' }]);
    await expect(
      writeCheckpointDir(dir, async (t) => {
        writeFileSync(join(t, 'w.bin'), 'half');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readFileSync(join(dir, 'w.bin'), 'utf8')).toBe('good');
    expect(readdirSync(root)).toEqual(['epoch_2']);
  });

  it('rejects file names that would escape the folder', async () => {
    const root = tmp();
    await expect(writeCheckpointDir(join(root, 'e'), [{ name: '../x', data: '' }])).rejects.toThrow(/plain file name/);
    expect(existsSync(join(root, 'e'))).toBe(false);
  });
});

describe('recoverCheckpointDir', () => {
  it('restores a folder moved aside by a writer that died before the swap, and drops dead temporaries', () => {
    const root = tmp();
    const dir = join(root, 'epoch_3');
    // A writer with a pid that cannot be alive (above Linux pid_max) crashed after moving the good copy aside.
    mkdirSync(join(root, 'epoch_3.old-99999999'));
    writeFileSync(join(root, 'epoch_3.old-99999999', 'w.bin'), 'good');
    mkdirSync(join(root, 'epoch_3.tmp-99999999'));
    const did = recoverCheckpointDir(dir);
    expect(did).toHaveLength(2);
    expect(readFileSync(join(dir, 'w.bin'), 'utf8')).toBe('good');
    expect(readdirSync(root)).toEqual(['epoch_3']);
  });

  it('leaves the leftovers of a live process alone', () => {
    const root = tmp();
    mkdirSync(join(root, `e.tmp-${process.ppid}`));
    expect(recoverCheckpointDir(join(root, 'e'))).toEqual([]);
    expect(readdirSync(root)).toEqual([`e.tmp-${process.ppid}`]);
  });

  it('writeCheckpointDir recovers first, so the next write after a crash replaces the restored copy', async () => {
    const root = tmp();
    const dir = join(root, 'epoch_4');
    await writeCheckpointDir(dir, [{ name: 'w.bin', data: 'v1' }]);
    renameSync(dir, `${dir}.old-99999999`); // simulated crash between the two renames
    await writeCheckpointDir(dir, [{ name: 'w.bin', data: 'v2' }]);
    expect(readFileSync(join(dir, 'w.bin'), 'utf8')).toBe('v2');
    expect(readdirSync(root)).toEqual(['epoch_4']);
  });
});

describe('best epoch', () => {
  it('copies the best epoch files to the output root, overwriting older ones', async () => {
    const root = tmp();
    writeFileSync(join(root, 'log.jsonl'), 'keep\n');
    writeFileSync(join(root, 'model.safetensors'), 'older best');
    await writeCheckpointDir(join(root, 'epoch_1'), [
      { name: 'model.safetensors', data: 'e1' },
      { name: 'vocab.txt', data: '[PAD]\n' },
    ]);
    expect(copyBestToRoot(join(root, 'epoch_1'), root).sort()).toEqual(['model.safetensors', 'vocab.txt']);
    expect(readFileSync(join(root, 'model.safetensors'), 'utf8')).toBe('e1');
    expect(readFileSync(join(root, 'log.jsonl'), 'utf8')).toBe('keep\n');
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('a missing file aborts the copy before any rename', () => {
    const root = tmp();
    mkdirSync(join(root, 'epoch_0'));
    writeFileSync(join(root, 'epoch_0', 'a'), 'new');
    writeFileSync(join(root, 'a'), 'old');
    expect(() => copyBestToRoot(join(root, 'epoch_0'), root, ['a', 'missing'])).toThrow();
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('old');
    expect(readdirSync(root).sort()).toEqual(['a', 'epoch_0']);
  });

  it('keeps the first of equal scores (np.argmax) and starts below any accuracy', () => {
    const b = new BestEpoch();
    expect([b.update(0, 0), b.update(1, 0.5), b.update(2, 0.5), b.update(3, 0.4)]).toEqual([true, true, false, false]);
    expect([b.epoch, b.score]).toEqual([1, 0.5]);
  });

  it('GAN saves after epochs 20, 30, ... by default (epoch index 19, 29, ...)', () => {
    const saved = Array.from({ length: 80 }, (_, e) => e).filter((e) => shouldSaveGanEpoch(e));
    expect(saved).toEqual([19, 29, 39, 49, 59, 69, 79]);
    expect(Array.from({ length: 6 }, (_, e) => e).filter((e) => shouldSaveGanEpoch(e, 2, 3))).toEqual([3, 5]);
  });
});
