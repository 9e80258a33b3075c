// Opening input files the one safe way: regular files only (a FIFO, socket or device given as a
// data or checkpoint file is refused at once instead of blocking the process), every failure an
// error that names the path, and whole-file reads bounded by a byte limit checked before reading.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Makes the caller's typed error (DataError, CheckpointError, ...) from a detail without the path. */
export type FileErrorFactory = (detail: string) => Error;

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. It has no
// effect on regular files, the only kind read past the fstat below.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

function openFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'cannot open: no such file (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `cannot open: permission denied (${code})`;
    case 'ELOOP':
      return 'cannot open: too many symbolic links (ELOOP)';
    case 'ENOTDIR':
      return 'cannot open: a component of the path is not a folder (ENOTDIR)';
    case 'EISDIR':
      return 'is a folder, expected a file (EISDIR)';
    default:
      return `cannot open: ${code ?? (e instanceof Error ? e.message : String(e))}`;
  }
}

function kindProblem(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a folder, expected a file';
  const kind = st.isFIFO()
    ? 'a FIFO (named pipe)'
    : st.isSocket()
      ? 'a socket'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : 'not a regular file';
  return `is ${kind}; only regular files are read`;
}

/** Opens `path` for reading if it is a regular file; returns the descriptor and the size. */
export function openRegularSync(path: string, fail: FileErrorFactory): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw fail(openFailure(e));
  }
  try {
    const st = fstatSync(fd);
    const why = kindProblem(st);
    if (why) throw fail(why);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The async twin of {@link openRegularSync}. */
export async function openRegular(path: string, fail: FileErrorFactory): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw fail(openFailure(e));
  }
  try {
    const st = await fh.stat();
    const why = kindProblem(st);
    if (why) throw fail(why);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Fills `dst` from `fd` at `pos`; a short read (the file shrank) is an error. */
export function readFullySync(fd: number, dst: Uint8Array, pos: number, fail: FileErrorFactory): void {
  let done = 0;
  while (done < dst.length) {
    let n: number;
    try {
      n = readSync(fd, dst, done, Math.min(dst.length - done, 1 << 30), pos + done);
    } catch (e) {
      throw fail(`read failed: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (n <= 0) throw fail(`file ended early at byte ${pos + done} (changed while reading?)`);
    done += n;
  }
}

/**
 * The bytes of a regular file of at most `maxBytes` bytes (checked before anything is read).
 * `what` names the limit in the error, e.g. "a tokenizer.json".
 */
export function readRegularFileSync(path: string, maxBytes: number, fail: FileErrorFactory, what = 'this file'): Buffer {
  const { fd, size } = openRegularSync(path, fail);
  try {
    if (size > maxBytes) throw fail(`${size} bytes, over the ${maxBytes}-byte limit for ${what}`);
    const buf = Buffer.allocUnsafe(size);
    readFullySync(fd, buf, 0, fail);
    return buf;
  } finally {
    closeSync(fd);
  }
}
