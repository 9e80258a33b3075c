import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixtures = join(repoRoot, 'test', 'fixtures', 'data');
export const sharedData = join(repoRoot, '..', 'shared', 'data');

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp folder removed after the test file. */
export function tempDir(prefix = 'biofeg-data-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A temp copy of a fixture folder. */
export function copyFixture(name: string): string {
  const d = tempDir();
  cpSync(join(fixtures, name), d, { recursive: true });
  return d;
}

export function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}
