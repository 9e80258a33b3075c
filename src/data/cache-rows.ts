import type { WordPieceTokenizer } from '../tokenize/types.js';
import { candidateRepresentation, contextRepresentation } from './blink-inputs.js';
import { DataError } from './errors.js';
import { parseJsonLine } from './lines.js';
import { pyStrip } from './pyjson.js';
import type { CacheKind } from './token-cache.js';

export interface RowSettings {
  kind: CacheKind;
  maxContextLength: number;
  maxCandLength: number;
}

export function rowWidth(s: RowSettings): number {
  return s.kind === 'mentions' ? s.maxContextLength + 1 : s.maxCandLength;
}

/**
 * Tokenise a batch of source lines into cache rows (shared by the main thread and the workers).
 * Mentions (a prepared .jsonl): context window ids + label_id. Entities (all_documents.json):
 * candidate ids of `title` + `text.strip()`, as the original's load_entity_dict builds them.
 */
export function tokenizeRows(
  tok: WordPieceTokenizer,
  s: RowSettings,
  lines: readonly string[],
  lineNos: readonly number[],
  path: string,
): { data: Int32Array; overflows: number } {
  const width = rowWidth(s);
  const data = new Int32Array(lines.length * width);
  let overflows = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lineNos[i]!;
    const v = parseJsonLine(lines[i]!, path, line);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(path, line, 'expected a JSON object');
    const o = v as Record<string, unknown>;
    if (s.kind === 'mentions') {
      for (const k of ['mention', 'context_left', 'context_right'] as const) {
        if (typeof o[k] !== 'string') throw new DataError(path, line, `field "${k}" should be a string (a prepared mention)`);
      }
      const label = o.label_id;
      if (typeof label !== 'number' || !Number.isSafeInteger(label) || label < 0 || label > 0x7fffffff) {
        throw new DataError(path, line, 'field "label_id" should be a non-negative int32');
      }
      const r = contextRepresentation(tok, o.mention as string, o.context_left as string, o.context_right as string, s.maxContextLength);
      if (r.overflow) overflows++;
      data.set(r.ids, i * width);
      data[i * width + width - 1] = label;
    } else {
      if (typeof o.title !== 'string') throw new DataError(path, line, 'field "title" should be a string (an entity)');
      const text = o.text === undefined ? '' : o.text;
      if (typeof text !== 'string') throw new DataError(path, line, 'field "text" should be a string (an entity)');
      data.set(candidateRepresentation(tok, pyStrip(text), s.maxCandLength, o.title).ids, i * width);
    }
  }
  return { data, overflows };
}
