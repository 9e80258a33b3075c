/**
 * Crash-safe outputs: a file is written beside its target under a temporary name, fsynced and
 * renamed; a folder is filled under a temporary sibling name and swapped in by renames, so a
 * reader sees either the old complete checkpoint or the new complete one.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let counter = 0;

export function tempSibling(target: string, tag = 'tmp'): string {
  return join(dirname(target), `.${basename(target)}.${tag}-${process.pid}-${Date.now()}-${counter++}`);
}

/** Write `chunks` to `path` through a temporary file renamed into place. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  const fd = openSync(tmp, 'wx');
  let ok = false;
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, Math.min(c.length - off, 1 << 30));
    }
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  renameSync(tmp, path);
}

/**
 * Build a folder with `fill(tempDir)` and put it at `dir`. An existing `dir` is moved aside first
 * and removed only after the new folder is in place; if `fill` throws, `dir` is untouched.
 */
export function writeFolderAtomic(dir: string, fill: (tempDir: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempSibling(dir);
  mkdirSync(tmp);
  try {
    fill(tmp);
    const dfd = openSync(tmp, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existsSync(dir)) {
    const old = tempSibling(dir, 'old');
    renameSync(dir, old);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      renameSync(old, dir);
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
}
