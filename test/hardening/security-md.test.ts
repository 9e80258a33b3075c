// SECURITY.md states the budgets the readers enforce; this keeps it true. Every budget of the
// code (each checkpoint limit by name, and the file and line bounds) must appear in SECURITY.md on
// the line that names it, with its exact value; a budget added to DEFAULT_CHECKPOINT_LIMITS without
// a line there fails too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { MAX_JSON_FILE_BYTES } from '../../src/checkpoint/hf-folder.js';
import { DEFAULT_CHECKPOINT_LIMITS } from '../../src/checkpoint/limits.js';
import { DEFAULT_PICKLE_LIMITS } from '../../src/checkpoint/pickle.js';
import { SAFETENSORS_MAX_HEADER } from '../../src/checkpoint/safetensors.js';
import { DICTIONARY_LIMITS } from '../../src/data/dictionary.js';
import { DEFAULT_MAX_LINE_BYTES } from '../../src/data/lines.js';
import { MAX_NPY_BYTES } from '../../src/encode/npy.js';
import { DEFAULT_EMBEDDING_CACHE_MB } from '../../src/eval/embedding-cache.js';
import { FIELDS } from '../../src/settings/fields.js';
import { LOCK_FILE } from '../../src/stages/output-lock.js';
import { MAX_TOKENIZER_FILE_BYTES } from '../../src/tokenize/read-text.js';

const ROOT = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'SECURITY.md'), 'utf8');
const lines = doc.split('\n');
const exact = (n: number): string => n.toLocaleString('en-US');

/** The table row that names `name` in backticks states `value` exactly (as 1,234,567). */
function stated(name: string, value: number): void {
  const rows = lines.filter((l) => l.startsWith('|') && l.includes(`\`${name}\``));
  expect(rows, `SECURITY.md has one table row for \`${name}\``).toHaveLength(1);
  expect(rows[0], `SECURITY.md's row for ${name}`).toContain(`(${exact(value)})`);
}

describe('SECURITY.md states the budgets the code enforces', () => {
  it('every checkpoint limit, by name and value', () => {
    const keys = Object.keys(DEFAULT_CHECKPOINT_LIMITS) as Array<keyof typeof DEFAULT_CHECKPOINT_LIMITS>;
    expect(keys.length).toBeGreaterThanOrEqual(9);
    for (const k of keys) stated(k, DEFAULT_CHECKPOINT_LIMITS[k]);
  });

  it('the pickle interpreter defaults, in one sentence with their names', () => {
    const flat = doc.replace(/\s+/g, ' ');
    for (const [k, v] of Object.entries(DEFAULT_PICKLE_LIMITS)) expect(flat).toContain(`\`${k}\` ${exact(v)}`);
  });

  it('file and line bounds', () => {
    stated('SAFETENSORS_MAX_HEADER', SAFETENSORS_MAX_HEADER);
    stated('MAX_JSON_FILE_BYTES', MAX_JSON_FILE_BYTES);
    stated('MAX_TOKENIZER_FILE_BYTES', MAX_TOKENIZER_FILE_BYTES);
    stated('MAX_NPY_BYTES', MAX_NPY_BYTES);
    stated('DEFAULT_MAX_LINE_BYTES', DEFAULT_MAX_LINE_BYTES);
    stated('DICTIONARY_LIMITS.maxBytes', DICTIONARY_LIMITS.maxBytes);
    stated('DICTIONARY_LIMITS.maxLineBytes', DICTIONARY_LIMITS.maxLineBytes);
  });

  it('the zip ratio, the lock file and the cache cap', () => {
    // The ratio is a literal of the zip reader: read it from there.
    const zip = readFileSync(join(ROOT, 'src', 'checkpoint', 'zip.ts'), 'utf8');
    const ratio = /e\.size > e\.compressedSize \* (\d+)/.exec(zip)?.[1];
    expect(ratio).toBeDefined();
    expect(doc.replace(/\s+/g, ' ')).toContain(`(more than ${ratio}:1)`);
    expect(doc).toContain(`<output>/${LOCK_FILE}`);
    expect(FIELDS.embeddingCacheMb.default).toBe(DEFAULT_EMBEDDING_CACHE_MB);
    expect(doc.replace(/\s+/g, ' ')).toContain(`(\`--embedding_cache_mb\`, default ${DEFAULT_EMBEDDING_CACHE_MB} MiB`);
  });
});
