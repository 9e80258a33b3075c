import { join } from 'node:path';
import { AtomicOutputs, type BufferedWriter } from './atomic.js';
import { SPLITS, type Split } from './arboel.js';
import { conceptText, loadDictionary, normalizeId, type Dictionary } from './dictionary.js';
import { DataError, type WarningCounter } from './errors.js';
import { readPubtator, type PubtatorDocument, type PubtatorMention } from './pubtator.js';
import { isPyWhitespace } from './pyjson.js';

/**
 * import-pubtator: PubTator corpora + a MEDIC or CTD dictionary -> the arboEL layout that
 * `prepare` reads. Policies (each counted in import-report.json):
 *  - entities: every dictionary concept, in dictionary order; title = preferred name, text = the
 *    definition when there is one, else the synonyms joined with "; ".
 *  - ids: whitespace and `MESH:`/`OMIM:` prefixes stripped; alternative ids map to their concept.
 *  - `-1` or empty id: mention dropped (noId).
 *  - composite ids (`A|B`, `A+B`): `composite: 'first'` (default) links the whole span to the
 *    first listed id the dictionary knows; `'skip'` drops the mention.
 *  - id missing from the dictionary: mention dropped (idNotInDictionary).
 *  - offsets: when document[start:end] is not the mention text: if the two agree after mapping
 *    every non-alphanumeric character to a space (the NCBI quirk in 10923035, quotes vs spaces),
 *    the offsets are kept; else the occurrence of the text nearest the offsets is used; else the
 *    mention is dropped.
 *  - tokens: the context text is re-spaced so every mention boundary is a whitespace-token
 *    boundary (a space is inserted where a boundary falls inside a token, e.g. "BRCA1-linked"
 *    with mention "BRCA1" becomes "BRCA1 -linked"); start/end_index are the inclusive indices of
 *    the tokens the mention covers, and the mention text is those tokens joined by one space. A
 *    span holding only whitespace covers no token and is dropped.
 *  - a PMID seen before (in any split): an identical repeat (same text and mentions) is skipped;
 *    a different document under the same PMID is renamed `PMID_2`, `PMID_3`, ...
 */

export interface ImportOptions {
  train: string;
  val: string;
  test: string;
  dictionary: string;
  outDir: string;
  /** Keep only mentions of these PubTator types (e.g. ["Disease"]); default all. */
  types?: string[];
  composite?: 'first' | 'skip';
}

export interface ImportCounts {
  documents: number;
  duplicateDocumentSkipped: number;
  duplicatePmidRenamed: number;
  mentionsRead: number;
  mentionsWritten: number;
  typeFiltered: number;
  noId: number;
  compositeFirstKept: number;
  compositeSkipped: number;
  idNotInDictionary: number;
  altIdMapped: number;
  offsetTextMismatchKept: number;
  offsetsRealigned: number;
  offsetMismatchSkipped: number;
  emptySpanSkipped: number;
  spacesInserted: number;
  distinctConcepts: number;
}

export interface ImportReport {
  outDir: string;
  dictionary: {
    path: string;
    format: string;
    concepts: number;
    altIds: number;
    withDefinition: number;
    warnings: ReturnType<WarningCounter['toJSON']>;
  };
  policies: { composite: 'first' | 'skip'; types: string[] | 'all' };
  splits: Record<Split, ImportCounts & { path: string }>;
  total: ImportCounts;
  testUnseenInTrain: number;
  examples: string[];
}

function emptyCounts(): ImportCounts {
  return {
    documents: 0,
    duplicateDocumentSkipped: 0,
    duplicatePmidRenamed: 0,
    mentionsRead: 0,
    mentionsWritten: 0,
    typeFiltered: 0,
    noId: 0,
    compositeFirstKept: 0,
    compositeSkipped: 0,
    idNotInDictionary: 0,
    altIdMapped: 0,
    offsetTextMismatchKept: 0,
    offsetsRealigned: 0,
    offsetMismatchSkipped: 0,
    emptySpanSkipped: 0,
    spacesInserted: 0,
    distinctConcepts: 0,
  };
}

const loose = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();

interface Kept {
  m: PubtatorMention;
  start: number;
  end: number;
  concept: number;
}

/** Resolve a mention's id to a concept index, or the name of the counter that drops it. */
function resolveId(raw: string, dict: Dictionary, composite: 'first' | 'skip', c: ImportCounts): number | keyof ImportCounts {
  const t = raw.trim();
  if (t === '' || t === '-1') return 'noId';
  const parts = t
    .split(/[|+]/)
    .map(normalizeId)
    .filter((p) => p !== '' && p !== '-1');
  if (parts.length === 0) return 'noId';
  if (parts.length > 1) {
    if (composite === 'skip') return 'compositeSkipped';
    for (const p of parts) {
      const i = dict.lookup.get(p);
      if (i !== undefined) {
        c.compositeFirstKept++;
        if (dict.concepts[i]!.id !== p) c.altIdMapped++;
        return i;
      }
    }
    return 'idNotInDictionary';
  }
  const i = dict.lookup.get(parts[0]!);
  if (i === undefined) return 'idNotInDictionary';
  if (dict.concepts[i]!.id !== parts[0]) c.altIdMapped++;
  return i;
}

/** Fix or reject offsets that do not match the mention text (policy in the file comment). */
function alignOffsets(doc: PubtatorDocument, m: PubtatorMention, c: ImportCounts): [number, number] | undefined {
  const { text } = doc;
  if (m.start >= 0 && m.end <= text.length && m.start <= m.end && text.slice(m.start, m.end) === m.text) return [m.start, m.end];
  if (
    m.start >= 0 &&
    m.end <= text.length &&
    m.start < m.end &&
    m.end - m.start === m.text.length &&
    loose(text.slice(m.start, m.end)) === loose(m.text) &&
    loose(m.text) !== ''
  ) {
    c.offsetTextMismatchKept++;
    return [m.start, m.end];
  }
  if (m.text.length > 0) {
    let best = -1;
    for (let i = text.indexOf(m.text); i >= 0; i = text.indexOf(m.text, i + 1)) {
      if (best < 0 || Math.abs(i - m.start) < Math.abs(best - m.start)) best = i;
    }
    if (best >= 0) {
      c.offsetsRealigned++;
      return [best, best + m.text.length];
    }
  }
  return undefined;
}

/**
 * Re-space `text` so each boundary in `cuts` separates whitespace tokens; returns the tokens with
 * their [start, end) in the ORIGINAL text's coordinates and the number of spaces inserted.
 */
export function tokensWithCuts(text: string, cuts: ReadonlySet<number>): { tokens: { start: number; end: number }[]; inserted: number } {
  const tokens: { start: number; end: number }[] = [];
  let inserted = 0;
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const ws = i === text.length || isPyWhitespace(text[i]!);
    if (start >= 0 && (ws || cuts.has(i))) {
      tokens.push({ start, end: i });
      if (!ws) inserted++;
      start = -1;
    }
    if (!ws && start < 0) start = i;
  }
  return { tokens, inserted };
}

/** One document -> its arboEL context document and mentions. */
function convertDocument(
  doc: PubtatorDocument,
  dict: Dictionary,
  o: Required<Pick<ImportOptions, 'composite'>> & { types?: Set<string> },
  c: ImportCounts,
  examples: string[],
  path: string,
) {
  const kept: Kept[] = [];
  for (const m of doc.mentions) {
    c.mentionsRead++;
    if (o.types && !o.types.has(m.type)) {
      c.typeFiltered++;
      continue;
    }
    const r = resolveId(m.id, dict, o.composite, c);
    if (typeof r !== 'number') {
      c[r]++;
      if (examples.length < 40) examples.push(`${path}:${m.line}: ${r} (${JSON.stringify(m.id)} for ${JSON.stringify(m.text)})`);
      continue;
    }
    const span = alignOffsets(doc, m, c);
    if (!span) {
      c.offsetMismatchSkipped++;
      if (examples.length < 40)
        examples.push(
          `${path}:${m.line}: offsets ${m.start}-${m.end} read ${JSON.stringify(doc.text.slice(m.start, m.end))}, not ${JSON.stringify(m.text)}; dropped`,
        );
      continue;
    }
    kept.push({ m, start: span[0], end: span[1], concept: r });
  }
  const cuts = new Set<number>();
  for (const k of kept) {
    cuts.add(k.start);
    cuts.add(k.end);
  }
  const { tokens, inserted } = tokensWithCuts(doc.text, cuts);
  c.spacesInserted += inserted;
  const tokenText = tokens.map((t) => doc.text.slice(t.start, t.end));
  const mentions: { startTok: number; endTok: number; text: string; k: Kept }[] = [];
  for (const k of kept) {
    // First token starting at or after the span start, last token ending at or before its end.
    const a = lowerBound(tokens, k.start);
    let b = a;
    while (b < tokens.length && tokens[b]!.end <= k.end) b++;
    b--;
    if (a >= tokens.length || b < a) {
      c.emptySpanSkipped++;
      if (examples.length < 40) examples.push(`${path}:${k.m.line}: span ${JSON.stringify(k.m.text)} covers no token; dropped`);
      continue;
    }
    mentions.push({ startTok: a, endTok: b, text: tokenText.slice(a, b + 1).join(' '), k });
  }
  return { text: tokenText.join(' '), mentions };
}

function lowerBound(tokens: { start: number }[], pos: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.start < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function jsonLine(w: BufferedWriter, o: Record<string, unknown>): void {
  w.write(JSON.stringify(o) + '\n');
}

export async function importPubtator(opts: ImportOptions): Promise<ImportReport> {
  const composite = opts.composite ?? 'first';
  const types = opts.types?.length ? new Set(opts.types) : undefined;
  const dict = await loadDictionary(opts.dictionary);
  const out = new AtomicOutputs();
  const examples: string[] = [];
  const splits = {} as ImportReport['splits'];
  const total = emptyCounts();
  const pmids = new Map<string, { where: string; sig: string }>();
  const trainConcepts = new Set<number>();
  const allConcepts = new Set<number>();
  let testUnseen = 0;
  try {
    const ents = out.open(join(opts.outDir, 'documents', 'all_documents.json'));
    for (const c of dict.concepts) jsonLine(ents, { document_id: c.id, title: c.name, text: conceptText(c) });
    for (const split of SPLITS) {
      const path = opts[split];
      const c = emptyCounts();
      const concepts = new Set<number>();
      const docsW = out.open(join(opts.outDir, 'documents', `${split}.json`));
      const mentW = out.open(join(opts.outDir, 'mentions', `${split}.json`));
      for await (const doc of readPubtator(path)) {
        const sig = JSON.stringify([doc.text, doc.mentions.map((m) => [m.start, m.end, m.text, m.type, m.id])]);
        const prev = pmids.get(doc.pmid);
        let docId = doc.pmid;
        if (prev !== undefined) {
          if (prev.sig === sig) {
            // The same abstract twice (NCBI train repeats 8528200): keep the first copy only.
            c.duplicateDocumentSkipped++;
            if (examples.length < 40) examples.push(`${path}:${doc.line}: document ${doc.pmid} repeats ${prev.where}; skipped`);
            continue;
          }
          let n = 2;
          while (pmids.has(`${doc.pmid}_${n}`)) n++;
          docId = `${doc.pmid}_${n}`;
          c.duplicatePmidRenamed++;
          if (examples.length < 40) examples.push(`${path}:${doc.line}: document ${doc.pmid} differs from ${prev.where}; renamed ${docId}`);
        }
        pmids.set(docId, { where: `${path}:${doc.line}`, sig });
        c.documents++;
        const conv = convertDocument(doc, dict, { composite, types }, c, examples, path);
        jsonLine(docsW, { document_id: docId, title: doc.title, text: conv.text });
        conv.mentions.forEach((m, k) => {
          const concept = dict.concepts[m.k.concept]!;
          concepts.add(m.k.concept);
          allConcepts.add(m.k.concept);
          if (split === 'train') trainConcepts.add(m.k.concept);
          if (split === 'test' && !trainConcepts.has(m.k.concept)) testUnseen++;
          jsonLine(mentW, {
            mention_id: `${docId}.${k}`,
            context_document_id: docId,
            label_document_id: concept.id,
            start_index: m.startTok,
            end_index: m.endTok,
            text: m.text,
            category: m.k.m.type,
          });
          c.mentionsWritten++;
        });
      }
      if (c.documents === 0) throw new DataError(path, undefined, 'no PubTator documents found; expected "PMID|t|title" lines');
      c.distinctConcepts = concepts.size;
      splits[split] = { ...c, path };
      for (const k of Object.keys(total) as (keyof ImportCounts)[]) if (k !== 'distinctConcepts') total[k] += c[k];
    }
    total.distinctConcepts = allConcepts.size;
    const report: ImportReport = {
      outDir: opts.outDir,
      dictionary: {
        path: opts.dictionary,
        format: dict.format,
        concepts: dict.concepts.length,
        altIds: dict.altIds,
        withDefinition: dict.concepts.filter((x) => x.definition !== '').length,
        warnings: dict.warnings.toJSON(),
      },
      policies: { composite, types: types ? [...types] : 'all' },
      splits,
      total,
      testUnseenInTrain: testUnseen,
      examples,
    };
    const rep = out.open(join(opts.outDir, 'import-report.json'));
    rep.write(JSON.stringify(report, null, 2) + '\n');
    out.commit();
    return report;
  } catch (e) {
    out.abort();
    throw e;
  }
}
