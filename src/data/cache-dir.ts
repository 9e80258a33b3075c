// Where token caches of a prepared folder live: <data>/cache, or <output>/cache when the data
// folder is read-only (e.g. ../shared).
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function cacheDirFor(dataPath: string, outputPath: string): string {
  return isWritable(dataPath) ? join(dataPath, 'cache') : join(outputPath, 'cache');
}
