/**
 * Shapes of the default knowledge base's source rows. Every row is written by the project
 * (names are the ordinary names of well-known things; definitions are our own sentences).
 */
export type ConceptType = 'Disease' | 'Chemical' | 'Gene' | 'Procedure';

/** [number, preferred name, synonyms, abbreviations, one-sentence definition] */
export type ConceptRow = readonly [
  num: number,
  name: string,
  synonyms: readonly string[],
  abbreviations: readonly string[],
  definition: string,
];

export interface Concept {
  /** Stable id `BF:NNNNNN`; the number is fixed in the source row, never derived from order. */
  id: string;
  type: ConceptType;
  name: string;
  synonyms: readonly string[];
  abbreviations: readonly string[];
  definition: string;
}
