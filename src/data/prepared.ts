import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { DataError } from './errors.js';
import { readJsonlWithLines } from './lines.js';

/** One line of processed/{split}.jsonl, as the original writes it. */
export interface PreparedMention {
  mention: string;
  mention_id: string | number;
  context_left: string;
  context_right: string;
  context_doc_id: string;
  type: string | null;
  label_id: number;
  label: string;
  label_title: string;
}

/** Split names of the processed folder: train, val (alias valid), test, test_seen, test_unseen. */
export function preparedPath(dir: string, split: string): string {
  const name = split === 'valid' || split === 'dev' ? 'val' : split;
  if (!['train', 'val', 'test', 'test_seen', 'test_unseen'].includes(name)) {
    throw new Error(`unknown split "${split}" (expected train, val (or valid), test, test_seen or test_unseen)`);
  }
  const p = join(dir, `${name}.jsonl`);
  if (name === 'val' && !existsSync(p) && existsSync(join(dir, 'valid.jsonl'))) return join(dir, 'valid.jsonl');
  return p;
}

function check(v: unknown, path: string, line: number): PreparedMention {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DataError(path, line, 'expected a JSON object (a prepared mention)');
  const o = v as Record<string, unknown>;
  for (const k of ['mention', 'context_left', 'context_right', 'label', 'label_title'] as const) {
    if (typeof o[k] !== 'string') throw new DataError(path, line, `field "${k}" should be a string`);
  }
  if (typeof o.label_id !== 'number' || !Number.isSafeInteger(o.label_id) || o.label_id < 0) {
    throw new DataError(path, line, 'field "label_id" should be a non-negative integer');
  }
  return o as unknown as PreparedMention;
}

/**
 * Stream the mentions of one prepared split (train, val/valid, test, test_seen, test_unseen) one
 * record at a time, validated, never holding the whole file.
 */
export async function* loadPrepared(dir: string, split: string): AsyncGenerator<PreparedMention> {
  const path = preparedPath(dir, split);
  if (!existsSync(path)) throw new DataError(path, undefined, `file not found (run \`biofeg prepare\` first)`);
  for await (const { line, value } of readJsonlWithLines(path)) yield check(value, path, line);
}
