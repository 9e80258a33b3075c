import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from './errors.js';

/**
 * The arboEL layout (the original BioFEG's input):
 *   documents/all_documents.json   one entity a line: {document_id, title, text}
 *   documents/{train,val,test}.json context documents, same fields
 *   mentions/{train,val,test}.json  {mention_id, context_document_id, label_document_id,
 *                                    start_index, end_index, text, category}
 * start_index/end_index are inclusive positions in the whitespace-split context text.
 */

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];
/** What callers may name a split: `valid` is an alias of `val`. */
export type SplitName = Split | 'valid' | 'test_seen' | 'test_unseen';

export function canonicalSplit(name: string): Split {
  if (name === 'valid' || name === 'dev') return 'val';
  if (name === 'train' || name === 'val' || name === 'test') return name;
  throw new Error(`unknown split "${name}" (expected train, val (or valid) or test)`);
}

export interface DocumentRecord {
  document_id: string;
  title: string;
  text: string;
}

export interface MentionRecord {
  mention_id: string | number;
  context_document_id: string;
  label_document_id: string;
  start_index: number;
  end_index: number;
  text: string;
  category: string | null;
}

type Check = 'string' | 'integer' | 'string|integer' | 'string|null';

function typeOk(v: unknown, t: Check): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'string|integer':
      return typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v));
    case 'string|null':
      return typeof v === 'string' || v === null;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isInteger(v)) return `the number ${v}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

function checkFields(
  value: unknown,
  fields: ReadonlyArray<readonly [string, Check]>,
  path: string,
  line: number,
  what: string,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DataError(path, line, `expected a JSON object (${what}), got ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;
  for (const [k, t] of fields) {
    if (!(k in o)) throw new DataError(path, line, `missing field "${k}" (expected ${t}) in ${what}`);
    if (!typeOk(o[k], t)) throw new DataError(path, line, `field "${k}" should be ${t}, got ${describe(o[k])}`);
  }
  return o;
}

const DOC_FIELDS = [
  ['document_id', 'string'],
  ['title', 'string'],
  ['text', 'string'],
] as const;

const MENTION_FIELDS = [
  ['mention_id', 'string|integer'],
  ['context_document_id', 'string'],
  ['label_document_id', 'string'],
  ['start_index', 'integer'],
  ['end_index', 'integer'],
  ['text', 'string'],
  ['category', 'string|null'],
] as const;

export function asDocument(value: unknown, path: string, line: number): DocumentRecord {
  return checkFields(value, DOC_FIELDS, path, line, 'a document {document_id, title, text}') as unknown as DocumentRecord;
}

export function asMention(value: unknown, path: string, line: number): MentionRecord {
  return checkFields(
    value,
    MENTION_FIELDS,
    path,
    line,
    'a mention {mention_id, context_document_id, label_document_id, start_index, end_index, text, category}',
  ) as unknown as MentionRecord;
}

/** The input files of one arboEL data folder; `valid.json` is accepted where `val.json` is absent. */
export interface ArboelPaths {
  entities: string;
  documents: Record<Split, string>;
  mentions: Record<Split, string>;
}

function splitFile(dir: string, split: Split): string {
  const p = join(dir, `${split}.json`);
  if (split === 'val' && !existsSync(p)) {
    const alt = join(dir, 'valid.json');
    if (existsSync(alt)) return alt;
  }
  return p;
}

export function arboelPaths(dataDir: string): ArboelPaths {
  const docs = join(dataDir, 'documents');
  const ments = join(dataDir, 'mentions');
  return {
    entities: join(docs, 'all_documents.json'),
    documents: { train: splitFile(docs, 'train'), val: splitFile(docs, 'val'), test: splitFile(docs, 'test') },
    mentions: { train: splitFile(ments, 'train'), val: splitFile(ments, 'val'), test: splitFile(ments, 'test') },
  };
}
