import { DataError } from './errors.js';
import { readLines } from './lines.js';

/** PubTator: `PMID|t|title`, `PMID|a|abstract`, mention lines `PMID\tstart\tend\ttext\ttype\tID[\t…]`, blank line between documents. */

export interface PubtatorMention {
  start: number;
  end: number;
  text: string;
  type: string;
  id: string;
  line: number;
}

export interface PubtatorDocument {
  pmid: string;
  title: string;
  abstract: string;
  /** title + " " + abstract: what the offsets index. */
  text: string;
  mentions: PubtatorMention[];
  line: number;
}

export interface PubtatorStats {
  relations: number;
}

/** Stream the documents of a PubTator file. */
export async function* readPubtator(path: string, stats: PubtatorStats = { relations: 0 }): AsyncGenerator<PubtatorDocument> {
  let cur: { pmid: string; title?: string; abstract?: string; mentions: PubtatorMention[]; line: number } | undefined;
  const finish = (): PubtatorDocument | undefined => {
    if (!cur) return undefined;
    const d = cur;
    cur = undefined;
    if (d.title === undefined) throw new DataError(path, d.line, `document ${d.pmid} has no "${d.pmid}|t|title" line`);
    const abstract = d.abstract ?? '';
    return {
      pmid: d.pmid,
      title: d.title,
      abstract,
      text: d.abstract === undefined ? d.title : `${d.title} ${abstract}`,
      mentions: d.mentions,
      line: d.line,
    };
  };
  for await (const l of readLines(path)) {
    const t = l.text;
    if (t.trim() === '') {
      const d = finish();
      if (d) yield d;
      continue;
    }
    const bar = /^([^|\t]+)\|([ta])\|(.*)$/s.exec(t);
    if (bar) {
      const [, pmid, kind, body] = bar as unknown as [string, string, string, string];
      if (cur && cur.pmid !== pmid) {
        const d = finish();
        if (d) yield d;
      }
      cur ??= { pmid, mentions: [], line: l.line };
      if (kind === 't') {
        if (cur.title !== undefined)
          throw new DataError(path, l.line, `second title line for document ${pmid}; expected a blank line between documents`);
        cur.title = body;
      } else {
        if (cur.abstract !== undefined) throw new DataError(path, l.line, `second abstract line for document ${pmid}`);
        cur.abstract = body;
      }
      continue;
    }
    const f = t.split('\t');
    if (f.length === 4 && !/^\d+$/.test(f[1]!)) {
      stats.relations++; // `PMID\tCID\tchemical\tdisease`: a relation, not a mention
      continue;
    }
    if (f.length < 6)
      throw new DataError(
        path,
        l.line,
        'expected "PMID|t|title", "PMID|a|abstract" or a mention line "PMID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>ID"',
      );
    if (!cur || cur.pmid !== f[0])
      throw new DataError(path, l.line, `mention of document ${f[0]} outside that document's block; expected it after "${f[0]}|t|…"`);
    const start = Number(f[1]);
    const end = Number(f[2]);
    if (!Number.isInteger(start) || !Number.isInteger(end) || f[1] === '' || f[2] === '') {
      throw new DataError(path, l.line, `expected integer character offsets, got "${f[1]}" and "${f[2]}"`);
    }
    cur.mentions.push({ start, end, text: f[3]!, type: f[4]!, id: f[5]!, line: l.line });
  }
  const d = finish();
  if (d) yield d;
}
