// Every concept's names from a knowledge base, for synonym pretraining: KB JSONL lines
// `{ id, name, synonyms?, description?, type? }` (the Linker's KB format, src/link/kb.ts), the
// arboEL documents `{ document_id, title, text }` (a title only: no synonyms), or a MEDIC / CTD
// dictionary (src/data/dictionary.ts: plain or .gz, the format read from its content).
import { asDocument } from './arboel.js';
import { DICTIONARY_LIMITS, loadDictionary } from './dictionary.js';
import { DataError } from './errors.js';
import { isBlank, parseJsonLine, readLines } from './lines.js';

export interface ConceptNames {
  id: string;
  /** The preferred name first, then the synonyms, as the file gives them (trimmed, empty ones dropped). */
  names: string[];
  /** Where the concept was read, for messages (`path:line`). */
  where: string;
}

export interface KbNames {
  format: 'kb-jsonl' | 'arboel' | 'medic' | 'ctd';
  concepts: ConceptNames[];
  /** Warnings of the reader (MEDIC/CTD: a concept listed twice, an alt id shared), as counts. */
  warnings: Record<string, number>;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

const clean = (names: readonly string[]): string[] => names.map((s) => s.trim()).filter((s) => s !== '');

/** One JSONL line: a KB entry or an arboEL document. */
function jsonlConcept(v: unknown, path: string, line: number): { c: ConceptNames; arboel: boolean } {
  const where = `${path}:${line}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DataError(path, line, `expected a JSON object { id, name, synonyms?, description?, type? }, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  if ('document_id' in o && !('id' in o)) {
    const d = asDocument(v, path, line);
    if (d.document_id === '') throw new DataError(path, line, 'field "document_id" is empty');
    return { c: { id: d.document_id, names: clean([d.title]), where }, arboel: true };
  }
  const id = o['id'];
  if (typeof id !== 'string' || id === '')
    throw new DataError(path, line, `field "id" should be a non-empty string (an entity { id, name, ... }), got ${describe(id)}`);
  const name = o['name'];
  if (typeof name !== 'string') throw new DataError(path, line, `field "name" should be a string, got ${describe(name)}`);
  const syn = o['synonyms'];
  if (syn !== undefined && (!Array.isArray(syn) || syn.some((s) => typeof s !== 'string')))
    throw new DataError(path, line, `field "synonyms" should be an array of strings, got ${describe(syn)}`);
  for (const k of ['description', 'type'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'string')
      throw new DataError(path, line, `field "${k}" should be a string, got ${describe(o[k])}`);
  return { c: { id, names: clean([name, ...((syn as string[] | undefined) ?? [])]), where }, arboel: false };
}

/** The first line that is neither blank nor a `#` comment (the format is read from it). */
async function firstLine(path: string): Promise<string | undefined> {
  for await (const l of readLines(path, { ...DICTIONARY_LIMITS, gunzip: true }))
    if (!isBlank(l.text) && !l.text.startsWith('#')) return l.text;
  return undefined;
}

/**
 * Reads a KB's concepts with all their names. JSONL (a first line starting with `{`): a repeated
 * id is an error at its line, as the Linker's KB reader says it. Otherwise a MEDIC or CTD
 * dictionary through the import's reader (a repeated concept keeps its first entry, counted).
 * Bad lines and non-UTF-8 bytes are DataErrors naming `path:line`.
 */
export async function readKbNames(path: string): Promise<KbNames> {
  const first = await firstLine(path);
  if (first === undefined)
    throw new DataError(path, undefined, 'empty: expected KB JSONL lines { id, name, synonyms? } or a MEDIC / CTD dictionary');
  if (!first.trimStart().startsWith('{')) {
    const d = await loadDictionary(path);
    return {
      format: d.format,
      concepts: d.concepts.map((c) => ({ id: c.id, names: clean([c.name, ...c.synonyms]), where: `${path} (concept ${c.id})` })),
      warnings: Object.fromEntries(d.warnings.counts),
    };
  }
  const concepts: ConceptNames[] = [];
  const seen = new Map<string, number>();
  let arboel = 0;
  for await (const l of readLines(path, { gunzip: true })) {
    if (isBlank(l.text) || l.text.startsWith('#')) continue; // comment lines, as firstLine skips them
    const { c, arboel: a } = jsonlConcept(parseJsonLine(l.text, path, l.line), path, l.line);
    const prev = seen.get(c.id);
    if (prev !== undefined) throw new DataError(path, l.line, `id "${c.id}" is already the id of line ${prev}`);
    seen.set(c.id, l.line);
    if (a) arboel++;
    concepts.push(c);
  }
  return { format: arboel === concepts.length ? 'arboel' : 'kb-jsonl', concepts, warnings: {} };
}
