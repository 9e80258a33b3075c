import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError, WarningCounter } from './errors.js';
import { decodeUtf8 } from './lines.js';

/**
 * Biomedical dictionaries for import-pubtator:
 *  - MEDIC / BioSyn style, one concept a line: `ID[|altID…]||preferred name[|synonym…]`
 *  - CTD diseases TSV (plain or .gz): `#` comment lines, then DiseaseName, DiseaseID,
 *    AltDiseaseIDs, Definition, ParentIDs, TreeNumbers, ParentTreeNumbers, Synonyms, SlimMappings.
 * IDs are normalised (see normalizeId); alternative IDs map to their concept.
 */

export interface Concept {
  id: string;
  name: string;
  synonyms: string[];
  definition: string;
}

export interface Dictionary {
  format: 'medic' | 'ctd';
  concepts: Concept[];
  /** Normalised id or alt id -> index into concepts. */
  lookup: Map<string, number>;
  altIds: number;
  warnings: WarningCounter;
}

/** Strip `MESH:` / `OMIM:` prefixes and all whitespace; other prefixes (e.g. `DO:DOID:`) stay. */
export function normalizeId(raw: string): string {
  const s = raw.replace(/\s+/g, '');
  return s.replace(/^(MESH|OMIM):/i, '');
}

function readText(path: string): string[] {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new DataError(path, undefined, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch {
      throw new DataError(path, undefined, 'corrupt gzip data');
    }
  }
  const lines: string[] = [];
  let start = 0;
  let n = 0;
  while (start < buf.length) {
    let nl = buf.indexOf(0x0a, start);
    if (nl < 0) nl = buf.length;
    let end = nl;
    if (end > start && buf[end - 1] === 0x0d) end--;
    n++;
    lines.push(decodeUtf8(buf.subarray(start, end), path, n));
    start = nl + 1;
  }
  if (lines.length && lines[0]!.charCodeAt(0) === 0xfeff) lines[0] = lines[0]!.slice(1);
  return lines;
}

function add(d: Dictionary, c: Concept, alts: string[], path: string, line: number): void {
  if (d.lookup.has(c.id) && d.concepts[d.lookup.get(c.id)!]!.id === c.id) {
    d.warnings.add('duplicate-concept', `${path}:${line}: concept ${c.id} listed again; the first entry is kept`);
    return;
  }
  const idx = d.concepts.length;
  d.concepts.push(c);
  d.lookup.set(c.id, idx); // a primary id wins over an earlier alt id of another concept
  for (const a of alts) {
    if (a === c.id) continue;
    if (d.lookup.has(a)) {
      d.warnings.add('shared-alt-id', `${path}:${line}: alternative id ${a} already names ${d.concepts[d.lookup.get(a)!]!.id}; kept there`);
      continue;
    }
    d.lookup.set(a, idx);
    d.altIds++;
  }
}

function parseMedic(lines: string[], path: string): Dictionary {
  const d: Dictionary = { format: 'medic', concepts: [], lookup: new Map(), altIds: 0, warnings: new WarningCounter() };
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    const sep = text.indexOf('||');
    if (sep < 0) throw new DataError(path, i + 1, 'expected a MEDIC line `ID[|altID…]||name[|synonym…]`');
    const ids = text.slice(0, sep).split('|').map(normalizeId).filter((s) => s.length > 0);
    const names = text.slice(sep + 2).split('|').map((s) => s.trim()).filter((s) => s.length > 0);
    if (ids.length === 0) throw new DataError(path, i + 1, 'expected at least one ID before `||`');
    if (names.length === 0) throw new DataError(path, i + 1, 'expected a preferred name after `||`');
    add(d, { id: ids[0]!, name: names[0]!, synonyms: names.slice(1), definition: '' }, ids.slice(1), path, i + 1);
  });
  return d;
}

function parseCtd(lines: string[], path: string): Dictionary {
  const d: Dictionary = { format: 'ctd', concepts: [], lookup: new Map(), altIds: 0, warnings: new WarningCounter() };
  lines.forEach((text, i) => {
    if (text.startsWith('#') || text.trim() === '') return;
    const f = text.split('\t');
    if (f.length < 8) throw new DataError(path, i + 1, `expected a CTD diseases row (9 tab-separated fields: DiseaseName, DiseaseID, AltDiseaseIDs, Definition, ..., Synonyms, SlimMappings), got ${f.length} fields`);
    const id = normalizeId(f[1]!);
    const name = f[0]!.trim();
    if (!id || !name) throw new DataError(path, i + 1, 'expected a DiseaseName and a DiseaseID');
    const alts = f[2]!.split('|').map(normalizeId).filter((s) => s.length > 0);
    const synonyms = f[7]!.split('|').map((s) => s.trim()).filter((s) => s.length > 0);
    add(d, { id, name, synonyms, definition: f[3]!.trim() }, alts, path, i + 1);
  });
  return d;
}

/** Load a MEDIC or CTD dictionary; the format is detected from the content. */
export function loadDictionary(path: string): Dictionary {
  const lines = readText(path);
  const first = lines.find((l) => l.trim() !== '' && !l.startsWith('#'));
  if (first === undefined) throw new DataError(path, undefined, 'empty dictionary: expected MEDIC lines or a CTD diseases TSV');
  const d = first.includes('\t') && !first.includes('||') ? parseCtd(lines, path) : parseMedic(lines, path);
  if (d.concepts.length === 0) throw new DataError(path, undefined, 'no concepts found');
  return d;
}

/** Entity text: the definition when there is one, else the synonyms joined with "; ". */
export function conceptText(c: Concept): string {
  return c.definition !== '' ? c.definition : c.synonyms.join('; ');
}
