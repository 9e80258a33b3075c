// The README's "Link from a Node service" example, run as written (its `from 'biofeg'` pointed at
// this checkout's sources) in a child process, in a fresh folder holding `work/model` (a tiny random
// bi-encoder: the example's numbers are not the point, its calls are), with PORT=0.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

import { writeRandomBiencoder } from '../../bench/serve-model.js';

const repo = resolve(import.meta.dirname, '..', '..');

function readmeExample(readme: string): string {
  const at = readme.indexOf('<!-- example: serve -->');
  if (at < 0) throw new Error('README.md: no "<!-- example: serve -->" marker');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error('README.md: no ```ts block after the serve example marker');
  return m[1]!;
}

it('the README service example runs as written', async () => {
  const code = readmeExample(readFileSync(join(repo, 'README.md'), 'utf8'));
  expect(code).toMatch(/from 'biofeg'/);
  const dir = mkdtempSync(join(tmpdir(), 'biofeg-readme-serve-'));
  try {
    await writeRandomBiencoder(join(dir, 'work', 'model'), 'tiny');
    const file = join(dir, 'example.mts');
    writeFileSync(file, code.replace(/from 'biofeg'/g, `from ${JSON.stringify(pathToFileURL(join(repo, 'src', 'index.ts')).href)}`));
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, file], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, PORT: '0' },
    });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/^BF:\d+ .+ -?\d+\.\d{3}$/gm)).toHaveLength(3);
    expect(r.stdout).toMatch(/^HTTP 200: BF:\d+, BF:\d+$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
