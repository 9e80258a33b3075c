// Checkpoint folders that are either the previous good one or the complete new one, never a mix:
// everything is written into `<dir>.tmp-<pid>`, fsynced, and renamed over `<dir>`. Layout as the
// original trainers: `<out>/epoch_N/` per epoch, and the best epoch's files copied to `<out>/`.
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { pidAlive, removeStaleTemps } from '../data/atomic.js';

export type CheckpointWriter = (tmpDir: string) => void | Promise<void>;
export interface CheckpointFile {
  name: string;
  data: Uint8Array | string;
}

export function epochDirName(epoch: number): string {
  return `epoch_${epoch}`;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync every regular file under `dir` (recursively), then the folders themselves. */
function fsyncTree(dir: string): void {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) fsyncTree(p);
    else if (ent.isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
}

/**
 * Clean up after a crash of an earlier writer of `dir`: when `dir` is missing but a moved-aside
 * previous version (`<dir>.old-<pid>`) exists, put it back; remove leftovers of dead processes.
 * Returns what it did, for the log.
 */
export function recoverCheckpointDir(dir: string): string[] {
  const parent = dirname(dir);
  const base = basename(dir);
  const done: string[] = [];
  if (!existsSync(parent)) return done;
  const leftovers = readdirSync(parent)
    .map((name) => ({ name, m: /^(.*)\.(tmp|old)-(\d+)$/.exec(name) }))
    .filter((x) => x.m !== null && x.m[1] === base && !(Number(x.m[3]) !== process.pid && pidAlive(Number(x.m[3]))));
  for (const { name, m } of leftovers.filter((x) => x.m![2] === 'old')) {
    const p = join(parent, name);
    if (!existsSync(dir)) {
      renameSync(p, dir);
      done.push(`restored ${dir} from ${name} (pid ${m![3]} stopped while replacing it)`);
    } else {
      rmSync(p, { recursive: true, force: true });
      done.push(`removed ${name}`);
    }
  }
  for (const { name } of leftovers.filter((x) => x.m![2] === 'tmp')) {
    rmSync(join(parent, name), { recursive: true, force: true });
    done.push(`removed unfinished ${name}`);
  }
  return done;
}

/**
 * Write a checkpoint folder atomically. `content` is either the files, or a function that writes
 * them into the temporary folder it is given (e.g. a safetensors writer). On any error the
 * temporary folder is removed and an existing `dir` is left as it was.
 */
export async function writeCheckpointDir(dir: string, content: CheckpointWriter | readonly CheckpointFile[]): Promise<void> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  recoverCheckpointDir(dir);
  removeStaleTemps(dir); // a killed writer's leftovers
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    if (typeof content === 'function') {
      await content(tmp);
    } else {
      for (const f of content) {
        if (f.name.includes('/') || f.name.includes('\\') || f.name === '' || f.name.startsWith('.'))
          throw new Error(`checkpoint file name "${f.name}" must be a plain file name`);
        writeFileSync(join(tmp, f.name), f.data);
      }
    }
    fsyncTree(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // Rename cannot replace a non-empty folder: move the good one aside, move the new one in, then
  // drop the old one. A crash in between leaves `<dir>.old-<pid>`, which recoverCheckpointDir restores.
  const hadOld = existsSync(dir);
  if (hadOld) renameSync(dir, old);
  renameSync(tmp, dir);
  fsyncPath(parent);
  if (hadOld) rmSync(old, { recursive: true, force: true });
}

/**
 * Copy the best epoch's files (default: every regular file of `epochDir`) into `outputRoot`, as
 * the original saves the best model in the output folder. Each file goes through a fsynced
 * temporary and all renames happen after all copies, so a failure changes nothing.
 */
export function copyBestToRoot(epochDir: string, outputRoot: string, fileNames?: readonly string[]): string[] {
  const names = fileNames ?? readdirSync(epochDir).filter((n) => statSync(join(epochDir, n)).isFile());
  mkdirSync(outputRoot, { recursive: true });
  const temps: Array<{ tmp: string; final: string }> = [];
  try {
    for (const n of names) {
      removeStaleTemps(join(outputRoot, n));
      const tmp = join(outputRoot, `.${n}.tmp-${process.pid}`);
      copyFileSync(join(epochDir, n), tmp);
      fsyncPath(tmp);
      temps.push({ tmp, final: join(outputRoot, n) });
    }
  } catch (e) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    throw e;
  }
  for (const t of temps) renameSync(t.tmp, t.final);
  fsyncPath(outputRoot);
  return names.slice();
}

/** A model's files in an epoch folder: what the output root gets (optimiser and trainer state stay behind). */
const MODEL_FILES = ['model.safetensors', 'pytorch_model.bin', 'config.json', 'vocab.txt', 'tokenizer_config.json'];

/** copyBestToRoot of the model files `epochDir` holds. */
export function copyModelToRoot(epochDir: string, outputRoot: string): void {
  copyBestToRoot(
    epochDir,
    outputRoot,
    MODEL_FILES.filter((f) => existsSync(join(epochDir, f))),
  );
}

/**
 * Best-epoch bookkeeping of the original: starts at (epoch -1, score -1) and an epoch replaces the
 * best only with a strictly higher score (np.argmax keeps the first of equal values).
 */
export class BestEpoch {
  epoch = -1;
  score = -1;
  /** Record an epoch's validation score; true when it is the new best. */
  update(epoch: number, score: number): boolean {
    if (score > this.score) {
      this.epoch = epoch;
      this.score = score;
      return true;
    }
    return false;
  }
}

/** GAN checkpoints of train_gan.py: after epoch index `epoch` when (epoch+1) % saveEvery == 0 and epoch+1 >= startSaving. */
export function shouldSaveGanEpoch(epoch: number, saveEvery = 10, startSaving = 20): boolean {
  return saveEvery > 0 && (epoch + 1) % saveEvery === 0 && epoch + 1 >= startSaving;
}

/**
 * The resumable checkpoint furthest along in `out`: `last` (written on an interrupt) or an
 * `epoch_N`, newest first (after `last`, at most `epochs` resumable ones are read). `open` reads
 * one entry's position in the run (or undefined when it cannot resume from it); the furthest wins.
 */
export function findResume<T>(
  out: string,
  open: (path: string) => { position: number; value: T } | undefined,
  epochs = Infinity,
): T | undefined {
  if (!existsSync(out)) return undefined;
  const numbered = readdirSync(out)
    .map((n) => /^epoch_(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => m[0]);
  let best: { value: T; position: number } | undefined;
  let read = 0;
  for (const name of ['last', ...numbered]) {
    const path = join(out, name);
    if (name !== 'last' && read >= epochs) break;
    if (!existsSync(path)) continue;
    const r = open(path);
    if (!r) continue;
    if (name !== 'last') read++;
    if (!best || r.position > best.position) best = r;
  }
  return best?.value;
}
