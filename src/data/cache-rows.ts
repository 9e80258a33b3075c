import type { WordPieceTokenizer } from '../tokenize/types.js';
import { candidateRepresentation, contextRepresentation } from './blink-inputs.js';
import { DataError } from './errors.js';
import { decodeUtf8, isBlank, parseJsonLine } from './lines.js';
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

const chunkDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Tokenise a chunk of raw source bytes that holds whole lines (it ends at a `\n`, or at the end of
 * the file) and whose first line is line `firstLine` of the file. Reads lines exactly as
 * `readLines` does (CR before `\n` dropped, strict UTF-8 with `path:line` errors, one leading BOM
 * per line dropped, blank lines skipped), so a cache built from chunks equals one built line by
 * line. Workers get these chunks as transferred bytes: cloning one buffer is far cheaper than
 * cloning thousands of strings, and the main thread never decodes or splits lines.
 */
export function tokenizeChunk(
  tok: WordPieceTokenizer,
  s: RowSettings,
  bytes: Uint8Array,
  firstLine: number,
  path: string,
): { data: Int32Array; overflows: number } {
  let text: string;
  try {
    text = chunkDecoder.decode(bytes);
  } catch {
    text = decodeByLine(bytes, firstLine, path); // throws with the bad line's number
  }
  const parts = text.split('\n');
  // A chunk ending in `\n` leaves an empty last part that is not a line.
  const n = parts.length > 0 && parts[parts.length - 1] === '' ? parts.length - 1 : parts.length;
  const lines: string[] = [];
  const lineNos: number[] = [];
  for (let i = 0; i < n; i++) {
    let l = parts[i]!;
    if (l.endsWith('\r')) l = l.slice(0, -1);
    // readLines decodes each line on its own, so its decoder drops one BOM at each line's start.
    if (l.charCodeAt(0) === 0xfeff) l = l.slice(1);
    if (isBlank(l)) continue;
    lines.push(l);
    lineNos.push(firstLine + i);
  }
  return tokenizeRows(tok, s, lines, lineNos, path);
}

/** Slow path for a chunk with invalid UTF-8: decode line by line so the error names the line. */
function decodeByLine(bytes: Uint8Array, firstLine: number, path: string): string {
  let start = 0;
  for (let line = firstLine; start < bytes.length; line++) {
    let nl = bytes.indexOf(0x0a, start);
    if (nl < 0) nl = bytes.length;
    let end = nl;
    if (end > start && bytes[end - 1] === 0x0d) end--;
    decodeUtf8(bytes.subarray(start, end), path, line);
    start = nl + 1;
  }
  throw new Error(`${path}: invalid UTF-8 (line not found)`);
}
