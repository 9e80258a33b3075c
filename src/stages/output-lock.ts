// One writer per output folder: a run holds `<output>/.biofeg.lock` (created exclusively, naming
// its process) until it ends. A second run on the same folder fails at once with the holder named;
// a lock left by a process that is gone (killed, crashed) is taken over, and the temporaries that
// dead writers left in the folder are removed then.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { nameWriteFailure, pidAlive, sweepStaleTemps } from '../data/atomic.js';
import { OutputBusyError, SettingsError } from '../errors.js';

export const LOCK_FILE = '.biofeg.lock';

interface Holder {
  pid: number;
  host: string;
  stage: string;
  since: string;
}

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined; // being written, or damaged: treated as held only while it is fresh (below)
  }
}

/** Takes the lock of `dir` (created if needed) for `stage`; returns its release. */
export function lockOutput(dir: string, stage: string): () => void {
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new SettingsError(
      'outputPath',
      `${stage}: outputPath (--output_path) ${dir}: is a file, expected a folder (or a path to create one)`,
    );
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), stage, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const h = readHolder(path);
      const stale = h !== undefined && h.host === me.host && !pidAlive(h.pid);
      if (!stale) {
        const who = h ? `${h.stage} (process ${h.pid} on ${h.host}, since ${h.since})` : 'another run';
        throw new OutputBusyError(
          dir,
          `${stage}: ${dir} is in use by ${who}; one run per output folder (remove ${path} if no run is using it)`,
        );
      }
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    sweepStaleTemps(dir);
    return () => {
      const h = readHolder(path);
      if (h?.pid === me.pid && h.since === me.since) rmSync(path, { force: true });
    };
  }
  throw new OutputBusyError(dir, `${stage}: could not take the lock ${path}`);
}

/** Runs `fn` holding the lock of `dir`. */
export async function withOutputLock<T>(dir: string, stage: string, fn: () => Promise<T>): Promise<T> {
  const release = lockOutput(dir, stage);
  try {
    return await fn();
  } catch (e) {
    throw nameWriteFailure(e, dir); // every stage's outputs are under `dir`
  } finally {
    release();
  }
}
