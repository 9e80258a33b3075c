// Crash-safe outputs, the one place they are written: a file goes to a temporary beside its
// target and is renamed into place (a group of files only on commit); a folder is filled under a
// temporary sibling and swapped in by renames, so a reader sees the old or the new, never a part.
// Temporaries carry the writer's pid; those of a process that is gone (a run killed before its
// commit) are removed when the same output is written again.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';

import { DataError } from './errors.js';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether process `pid` exists (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporaries that writers of `target` left when they were killed: hidden siblings
 * `.<name>.tmp-<pid>-<n>` (files), `.<name>.{tmp,old}-<pid>-<time>-<n>` (folders), and the
 * `<name>.tmp-<pid>` / `.<name>.tmp-<pid>` forms, whose `<pid>` is no longer a running process.
 * Those of running processes (another writer at work) are left alone. Returns what was removed.
 */
export function removeStaleTemps(target: string): string[] {
  const dir = dirname(target);
  const base = escapeRegExp(basename(target));
  const re = new RegExp(`^(?:\\.${base}\\.(?:tmp|old)|\\.?${base}\\.tmp)-(\\d+)(?:-\\d+)*$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = join(dir, n);
    try {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

/**
 * Every temporary of a dead writer directly in `dir`, whatever output it was for (a run killed
 * while copying its best epoch leaves `.model.safetensors.tmp-<pid>`, up to the model's size): the
 * forms removeStaleTemps knows, for any name. A moved-aside previous version (`.old-`) whose target
 * is missing is put back instead, as it is then the only copy. Called when a run takes its output
 * folder (stages/output-lock.ts), so the next run of a folder cleans up after a killed one.
 */
export function sweepStaleTemps(dir: string): string[] {
  const re = /^(\.?)(.+?)\.(tmp|old)-(\d+)(?:-\d+)*$/;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const done: string[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m || pidAlive(Number(m[4]))) continue;
    const p = join(dir, n);
    const target = join(dir, m[2]!);
    try {
      if (m[3] === 'old' && !existsSync(target)) {
        renameSync(p, target);
        done.push(`restored ${target} from ${n}`);
      } else {
        rmSync(p, { recursive: true, force: true });
        done.push(`removed ${p}`);
      }
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return done;
}

/**
 * Refuses, before any work, an output file path that cannot be written as one: its folder missing
 * (a mistyped path is an error, not a new folder tree) or the path itself a folder (the rename at
 * the end would fail with a bare EISDIR after all the work).
 */
export function checkOutputFile(path: string): void {
  const dir = dirname(path);
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(dir);
  } catch {
    /* missing: below */
  }
  if (!st?.isDirectory()) throw new DataError(path, undefined, `cannot write: the folder ${dir} does not exist`);
  try {
    st = statSync(path);
  } catch {
    return; // a new file
  }
  if (st.isDirectory()) throw new DataError(path, undefined, 'cannot write: it is a folder, expected a file name');
}

const WRITE_FAILURES: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EFBIG: 'a file would pass the size limit of the file system or of `ulimit -f`',
  EROFS: 'the file system is read-only',
  EIO: 'the device reported an I/O error',
};

/**
 * Node's errors from writes to an open file (`ENOSPC: no space left on device, write`) name no
 * file. This names `path` (the file, or the output folder being written) in the message, once,
 * and says what the code means; the error keeps its class and `code` (ENOSPC, EFBIG, ...), so a
 * caller still branches on it. Other errors are returned unchanged.
 */
export function nameWriteFailure<E>(e: E, path: string): E {
  if (!(e instanceof Error)) return e;
  const x = e as NodeJS.ErrnoException;
  if (typeof x.code !== 'string' || typeof x.syscall !== 'string' || x.path !== undefined) return e;
  const why = WRITE_FAILURES[x.code];
  x.message = `${path}: cannot ${x.syscall} (${x.message})${why ? `: ${why}` : ''}`;
  x.path = path;
  return e;
}

/** Buffered synchronous writer to one file descriptor. */
export class BufferedWriter {
  private parts: string[] = [];
  private size = 0;
  bytes = 0;
  constructor(
    private readonly fd: number,
    private readonly flushAt = 1 << 20,
    /** Named in write errors (an fd-level write error names no file). */
    private readonly path?: string,
  ) {}
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= this.flushAt) this.flush();
  }
  writeBytes(b: Uint8Array): void {
    this.flush();
    let off = 0;
    try {
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      throw this.path === undefined ? e : nameWriteFailure(e, this.path);
    }
    this.bytes += b.length;
  }
  /** Overwrite bytes at an absolute position (e.g. a header once the counts are known). */
  writeAt(position: number, b: Uint8Array): void {
    this.flush();
    let off = 0;
    try {
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off, position + off);
    } catch (e) {
      throw this.path === undefined ? e : nameWriteFailure(e, this.path);
    }
  }
  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    this.writeBytes(buf);
  }
}

interface Pending {
  final: string;
  temp: string;
  fd: number;
  writer: BufferedWriter;
  closed: boolean;
}

/**
 * A group of output files written to temporaries beside their targets and renamed into place
 * only by {@link commit}; {@link abort} (or a crash before commit) leaves the targets untouched.
 * Temporaries are named `.<name>.tmp-<pid>-<thread>-<n>` so a crashed run's leftovers are
 * recognisable (and two worker threads of one process never pick the same name).
 */
export class AtomicOutputs {
  private files: Pending[] = [];
  private createdDirs: string[] = [];
  private static counter = 0;

  /** Create the folder (and parents) if needed, remembering what was created so abort can remove it. */
  ensureDir(dir: string): void {
    const missing: string[] = [];
    let d = dir;
    while (!existsSync(d)) {
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
    mkdirSync(dir, { recursive: true });
    this.createdDirs.push(...missing);
  }

  open(finalPath: string): BufferedWriter {
    this.ensureDir(dirname(finalPath));
    checkOutputFile(finalPath);
    removeStaleTemps(finalPath);
    const temp = join(dirname(finalPath), `.${basename(finalPath)}.tmp-${process.pid}-${threadId}-${AtomicOutputs.counter++}`);
    const fd = openSync(temp, 'wx');
    const writer = new BufferedWriter(fd, 1 << 20, finalPath);
    this.files.push({ final: finalPath, temp, fd, writer, closed: false });
    return writer;
  }

  /** Flush, fsync and rename every temporary into place. */
  commit(): void {
    for (const f of this.files) {
      try {
        f.writer.flush();
        fsyncSync(f.fd);
        closeSync(f.fd);
      } catch (e) {
        throw nameWriteFailure(e, f.final);
      }
      f.closed = true;
    }
    for (const f of this.files) renameSync(f.temp, f.final);
    this.files = [];
    this.createdDirs = [];
  }

  /** Remove every temporary and any folder this run created (when left empty). */
  abort(): void {
    for (const f of this.files) {
      try {
        if (!f.closed) closeSync(f.fd);
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(f.temp);
      } catch {
        /* already gone */
      }
    }
    this.files = [];
    // Deepest first, so a parent is empty by the time it is tried.
    for (const d of [...this.createdDirs].sort((a, b) => b.length - a.length)) {
      try {
        if (readdirSync(d).length === 0) rmdirSync(d);
      } catch {
        /* not empty or gone */
      }
    }
    this.createdDirs = [];
  }
}

/** Write one file atomically: a string, bytes, or chunks of bytes (streamed, not joined). */
export function writeFileAtomic(path: string, content: string | Uint8Array | Iterable<Uint8Array>): void {
  const out = new AtomicOutputs();
  try {
    const w = out.open(path);
    if (typeof content === 'string') w.write(content);
    else if (content instanceof Uint8Array) w.writeBytes(content);
    else for (const c of content) w.writeBytes(c);
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
}

let counter = 0;

/** A hidden temporary name beside `target` (`.<name>.<tag>-<pid>-<time>-<n>`). */
export function tempSibling(target: string, tag = 'tmp'): string {
  return join(dirname(target), `.${basename(target)}.${tag}-${process.pid}-${threadId}-${Date.now()}-${counter++}`);
}

/**
 * Build a folder with `fill(tempDir)` and put it at `dir`. An existing `dir` is moved aside first
 * and removed only after the new folder is in place; if `fill` throws, `dir` is untouched.
 */
export function writeFolderAtomic(dir: string, fill: (tempDir: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  removeStaleTemps(dir);
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
