import { chemicals } from './chemicals.js';
import { diseases } from './diseases.js';
import { genes } from './genes.js';
import { procedures } from './procedures.js';
import type { Concept, ConceptRow, ConceptType } from './types.js';

export type { Concept, ConceptType } from './types.js';

const GROUPS: readonly (readonly [ConceptType, readonly ConceptRow[]])[] = [
  ['Disease', diseases],
  ['Chemical', chemicals],
  ['Gene', genes],
  ['Procedure', procedures],
];

/** `BF:` + six digits; the number is written in the source row so ids never move. */
export function conceptId(num: number): string {
  return `BF:${String(num).padStart(6, '0')}`;
}

/** Every concept, sorted by id; throws on a duplicated id or an empty name/definition. */
export function allConcepts(): Concept[] {
  const out: Concept[] = [];
  const seen = new Set<string>();
  for (const [type, rows] of GROUPS) {
    for (const [num, name, synonyms, abbreviations, definition] of rows) {
      const id = conceptId(num);
      if (seen.has(id)) throw new Error(`duplicated concept id ${id}`);
      if (!name.trim() || !definition.trim()) throw new Error(`${id}: empty name or definition`);
      seen.add(id);
      out.push({ id, type, name, synonyms, abbreviations, definition });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
