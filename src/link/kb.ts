// Knowledge bases an entity index is built from: JSONL lines `{ id, name, synonyms?, description?,
// type? }` (bring your own KB) or the arboEL documents format (`{ document_id, title, text }`, the
// project's all_documents.json). Each entity becomes one candidate text, `[CLS] name [unused2] text
// [SEP]`, as the original's load_entity_dict builds it.
import { asDocument } from '../data/arboel.js';
import { readJsonlWithLines } from '../data/lines.js';
import { pyStrip } from '../data/pyjson.js';
import { InputError } from '../errors.js';

/** One KB entry as the library takes it (`index.add`, or a JSONL line). */
export interface KbEntity {
  /** Unique in the index. */
  id: string;
  /** The title the candidate encoder reads first. */
  name: string;
  /** Joined with `, ` as the entity's text when there is no description. */
  synonyms?: string[];
  /** The entity's text. */
  description?: string;
  /** Not encoded; accepted so a KB's lines need no editing. */
  type?: string;
}

/** What the candidate encoder reads for one entity. */
export interface EntityText {
  id: string;
  name: string;
  text: string;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

/** A `{ id, name, synonyms?, description?, type? }` entry (or an arboEL document), checked; errors read `path:line: ...`. */
export function entityText(v: unknown, path: string, line: number): EntityText {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InputError(path, line, `expected a JSON object { id, name, synonyms?, description?, type? }, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  if ('document_id' in o && !('id' in o)) {
    // The arboEL documents, checked as prepare checks them; the text stripped as the entity token cache strips it.
    const d = asDocument(v, path, line);
    if (d.document_id === '') throw new InputError(path, line, 'field "document_id" is empty');
    return { id: d.document_id, name: d.title, text: pyStrip(d.text) };
  }
  const id = o['id'];
  if (typeof id !== 'string' || id === '')
    throw new InputError(path, line, `field "id" should be a non-empty string (an entity { id, name, ... }), got ${describe(id)}`);
  if (typeof o['name'] !== 'string') throw new InputError(path, line, `field "name" should be a string, got ${describe(o['name'])}`);
  const syn = o['synonyms'];
  if (syn !== undefined && (!Array.isArray(syn) || syn.some((s) => typeof s !== 'string')))
    throw new InputError(path, line, `field "synonyms" should be an array of strings, got ${describe(syn)}`);
  const desc = o['description'];
  if (desc !== undefined && typeof desc !== 'string')
    throw new InputError(path, line, `field "description" should be a string, got ${describe(desc)}`);
  if (o['type'] !== undefined && typeof o['type'] !== 'string')
    throw new InputError(path, line, `field "type" should be a string, got ${describe(o['type'])}`);
  const text = desc !== undefined ? desc : ((syn as string[] | undefined) ?? []).join(', ');
  return { id, name: o['name'], text: pyStrip(text) };
}

/** Every entity of a KB file, in line order (blank lines skipped); a repeated id is an error at its line. */
export async function readKb(path: string): Promise<EntityText[]> {
  const out: EntityText[] = [];
  const seen = new Map<string, number>();
  for await (const { line, value } of readJsonlWithLines(path)) {
    const e = entityText(value, path, line);
    const first = seen.get(e.id);
    if (first !== undefined) throw new InputError(path, line, `id "${e.id}" is already the id of line ${first}`);
    seen.set(e.id, line);
    out.push(e);
  }
  if (out.length === 0) throw new InputError(path, undefined, 'no entities (expected JSONL lines { id, name, ... })');
  return out;
}
