import { DataError, WarningCounter } from './errors.js';
import { readLines, type LineLimits } from './lines.js';

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

/**
 * Bounds of a dictionary read: 256 MiB of text (after inflating a `.gz`; CTD's full diseases TSV
 * is about 30 MB) and 16 MiB a line. Each is an error naming the file, checked while inflating.
 */
export const DICTIONARY_LIMITS: Readonly<Required<Omit<LineLimits, 'gunzip'>>> = {
  maxBytes: 256 * 1024 * 1024,
  maxLineBytes: 16 * 1024 * 1024,
};

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

function medicLine(d: Dictionary, text: string, path: string, line: number): void {
  if (text.trim() === '') return;
  const sep = text.indexOf('||');
  if (sep < 0) throw new DataError(path, line, 'expected a MEDIC line `ID[|altID…]||name[|synonym…]`');
  const ids = text
    .slice(0, sep)
    .split('|')
    .map(normalizeId)
    .filter((s) => s.length > 0);
  const names = text
    .slice(sep + 2)
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) throw new DataError(path, line, 'expected at least one ID before `||`');
  if (names.length === 0) throw new DataError(path, line, 'expected a preferred name after `||`');
  add(d, { id: ids[0]!, name: names[0]!, synonyms: names.slice(1), definition: '' }, ids.slice(1), path, line);
}

function ctdLine(d: Dictionary, text: string, path: string, line: number): void {
  if (text.startsWith('#') || text.trim() === '') return;
  const f = text.split('\t');
  if (f.length < 8)
    throw new DataError(
      path,
      line,
      `expected a CTD diseases row (9 tab-separated fields: DiseaseName, DiseaseID, AltDiseaseIDs, Definition, ..., Synonyms, SlimMappings), got ${f.length} fields`,
    );
  const id = normalizeId(f[1]!);
  const name = f[0]!.trim();
  if (!id || !name) throw new DataError(path, line, 'expected a DiseaseName and a DiseaseID');
  const alts = f[2]!
    .split('|')
    .map(normalizeId)
    .filter((s) => s.length > 0);
  const synonyms = f[7]!
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  add(d, { id, name, synonyms, definition: f[3]!.trim() }, alts, path, line);
}

/**
 * Load a MEDIC or CTD dictionary (plain or gzip); the format is detected from the first line that
 * is neither blank nor a `#` comment. Streamed: the text is never held whole, and `limits`
 * (default {@link DICTIONARY_LIMITS}) bound it while it is inflated.
 */
export async function loadDictionary(path: string, limits: Omit<LineLimits, 'gunzip'> = {}): Promise<Dictionary> {
  let d: Dictionary | undefined;
  let parse: typeof medicLine = medicLine;
  for await (const l of readLines(path, { ...DICTIONARY_LIMITS, ...limits, gunzip: true })) {
    if (!d) {
      if (l.text.trim() === '' || l.text.startsWith('#')) continue;
      const ctd = l.text.includes('\t') && !l.text.includes('||');
      d = { format: ctd ? 'ctd' : 'medic', concepts: [], lookup: new Map(), altIds: 0, warnings: new WarningCounter() };
      parse = ctd ? ctdLine : medicLine;
    }
    parse(d, l.text, path, l.line);
  }
  if (!d) throw new DataError(path, undefined, 'empty dictionary: expected MEDIC lines or a CTD diseases TSV');
  if (d.concepts.length === 0) throw new DataError(path, undefined, 'no concepts found');
  return d;
}

/** Entity text: the definition when there is one, else the synonyms joined with "; ". */
export function conceptText(c: Concept): string {
  return c.definition !== '' ? c.definition : c.synonyms.join('; ');
}
