// The README's "Use it as a library" example, run as written (its `from 'biofeg'` pointed at this
// checkout's sources) in a child process, in a fresh folder: it must finish and print its results.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

/** The ```ts block after the marker comment. */
function readmeExample(readme: string): string {
  const at = readme.indexOf('<!-- example: library -->');
  if (at < 0) throw new Error('README.md: no "<!-- example: library -->" marker');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error('README.md: no ```ts block after the example marker');
  return m[1]!;
}

it('the README library example runs as written', () => {
  const code = readmeExample(readFileSync(join(repo, 'README.md'), 'utf8'));
  expect(code).toMatch(/from 'biofeg'/);
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-readme-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(file, code.replace(/from 'biofeg'/g, `from ${JSON.stringify(pathToFileURL(join(repo, 'src', 'index.ts')).href)}`));
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, file], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/trained: in-batch accuracy \d\.\d+ -> \d\.\d+/);
    expect(r.stdout).toMatch(/2 vectors of 128/);
    expect(r.stdout).toMatch(/test recall@8: \d\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
