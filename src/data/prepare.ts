import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AtomicOutputs, type BufferedWriter } from './atomic.js';
import { SPLITS, arboelPaths, asMention, type Split } from './arboel.js';
import { DocumentIndex } from './doc-index.js';
import { DataError, WarningCounter } from './errors.js';
import { isBlank, parseJsonLine, readLines } from './lines.js';
import { pyDumpString, pyDumps, pySplit } from './pyjson.js';

/**
 * `prepare`: the arboEL layout -> BLINK mention files, identical byte for byte to what the
 * original BioFEG data_process.py writes: processed/{train,val,test}.jsonl, test_seen.jsonl and
 * test_unseen.jsonl (one Python `json.dumps` object a line, lines joined by "\n" with no final
 * newline, keys mention, mention_id, context_left, context_right, context_doc_id, type,
 * label_id, label, label_title). Streams mentions; entities and context documents are indexed
 * by byte offset, not held in memory.
 */

export interface PrepareOptions {
  dataDir: string;
  /** Default `<dataDir>/processed`. */
  outDir?: string;
  /**
   * Skip (and count) a mention the original would reject (span mismatch, out-of-range offsets,
   * unknown ids, mistyped fields, duplicate mention_id) instead of failing. Default false: fail,
   * like the original.
   */
  skipInvalid?: boolean;
  onProgress?: (split: Split, mentions: number) => void;
}

export interface SplitReport {
  file: string;
  mentions: number;
  skipped: number;
}

export interface PrepareReport {
  outDir: string;
  entities: number;
  contextDocuments: number;
  splits: Record<Split, SplitReport>;
  testSeen: number;
  testUnseen: number;
  warnings: ReturnType<WarningCounter['toJSON']>;
}

/** Serialize one output record exactly like `json.dumps` on the original's dict. */
function outputLine(
  mention: string,
  mentionId: string | number,
  left: string,
  right: string,
  contextDocId: string,
  type: string | null,
  labelId: number,
  label: string,
  labelTitle: string,
): string {
  return (
    `{"mention": ${pyDumpString(mention)}, "mention_id": ${pyDumps(mentionId)}, ` +
    `"context_left": ${pyDumpString(left)}, "context_right": ${pyDumpString(right)}, ` +
    `"context_doc_id": ${pyDumpString(contextDocId)}, "type": ${pyDumps(type)}, ` +
    `"label_id": ${labelId}, "label": ${pyDumpString(label)}, "label_title": ${pyDumpString(labelTitle)}}`
  );
}

/** Joins lines with "\n" and no trailing newline, like `'\n'.join(...)`. */
class JoinedLines {
  count = 0;
  constructor(private readonly w: BufferedWriter) {}
  push(line: string): void {
    this.w.write(this.count === 0 ? line : '\n' + line);
    this.count++;
  }
}

function short(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 77) + '...' : s);
}

export async function prepare(opts: PrepareOptions): Promise<PrepareReport> {
  const paths = arboelPaths(opts.dataDir);
  const outDir = opts.outDir ?? join(opts.dataDir, 'processed');
  const warnings = new WarningCounter();
  const required = [paths.entities, ...SPLITS.map((s) => paths.documents[s]), ...SPLITS.map((s) => paths.mentions[s])];
  for (const p of required)
    if (!existsSync(p))
      throw new DataError(
        p,
        undefined,
        'file not found (expected the arboEL layout: documents/{all_documents,train,val,test}.json and mentions/{train,val,test}.json)',
      );

  const entities = new DocumentIndex();
  const contexts = new DocumentIndex(64);
  const out = new AtomicOutputs();
  try {
    const nEnt = await entities.addFile(paths.entities);
    if (nEnt === 0)
      throw new DataError(paths.entities, undefined, 'empty file: expected one entity a line ({"document_id", "title", "text"})');
    for (const s of SPLITS) {
      const p = paths.documents[s];
      const n = await contexts.addFile(p, (id, line) => {
        // The original asserts that context documents and entities never share an id.
        const e = entities.ids.get(id);
        if (e !== undefined)
          throw new DataError(
            p,
            line,
            `document_id ${JSON.stringify(id)} is also an entity (${entities.where(e)}); expected context document ids distinct from entity ids`,
          );
      });
      if (n === 0) warnings.add('empty-documents-file', `${p}: empty (no context documents)`);
    }

    const seenInTrain = new Uint8Array(nEnt);
    const mentionIds = new Map<string, string>();
    const writers = {
      train: new JoinedLines(out.open(join(outDir, 'train.jsonl'))),
      val: new JoinedLines(out.open(join(outDir, 'val.jsonl'))),
      test: new JoinedLines(out.open(join(outDir, 'test.jsonl'))),
    };
    const seen = new JoinedLines(out.open(join(outDir, 'test_seen.jsonl')));
    const unseen = new JoinedLines(out.open(join(outDir, 'test_unseen.jsonl')));
    const splits = {} as Record<Split, SplitReport>;

    let lastDoc = -1;
    let lastTokens: string[] = [];
    for (const split of SPLITS) {
      const path = paths.mentions[split];
      const w = writers[split];
      let skipped = 0;
      let lines = 0;
      for await (const l of readLines(path)) {
        if (isBlank(l.text)) continue;
        lines++;
        try {
          const m = asMention(parseJsonLine(l.text, path, l.line), path, l.line);
          const idKey = (typeof m.mention_id === 'number' ? '\u0000' : '') + String(m.mention_id);
          const first = mentionIds.get(idKey);
          if (first !== undefined)
            throw new DataError(
              path,
              l.line,
              `duplicate mention_id ${JSON.stringify(m.mention_id)} (first at ${first}); expected unique ids`,
            );
          mentionIds.set(idKey, `${path}:${l.line}`);
          const labelIdx = entities.ids.get(m.label_document_id);
          if (labelIdx === undefined)
            throw new DataError(
              path,
              l.line,
              `label_document_id ${JSON.stringify(m.label_document_id)} not found; expected an id of ${paths.entities}`,
            );
          const ctxIdx = contexts.ids.get(m.context_document_id);
          if (ctxIdx === undefined)
            throw new DataError(
              path,
              l.line,
              `context_document_id ${JSON.stringify(m.context_document_id)} not found; expected an id of documents/{train,val,test}.json`,
            );
          if (ctxIdx !== lastDoc) {
            lastTokens = pySplit(contexts.get(ctxIdx).text);
            lastDoc = ctxIdx;
          }
          const toks = lastTokens;
          const s = m.start_index;
          const e = m.end_index;
          if (s < 0 || e < s || e >= toks.length) {
            throw new DataError(
              path,
              l.line,
              `start_index ${s} / end_index ${e} out of range; expected 0 <= start_index <= end_index < ${toks.length} (whitespace tokens of context document ${JSON.stringify(m.context_document_id)})`,
            );
          }
          const mention = toks.slice(s, e + 1).join(' ');
          if (mention !== m.text) {
            throw new DataError(
              path,
              l.line,
              `tokens ${s}..${e} of context document ${JSON.stringify(m.context_document_id)} read ${short(mention)}; expected the mention text ${short(m.text)}`,
            );
          }
          const label = entities.get(labelIdx);
          const line = outputLine(
            mention,
            m.mention_id,
            toks.slice(0, s).join(' '),
            toks.slice(e + 1).join(' '),
            m.context_document_id,
            m.category,
            labelIdx,
            label.text,
            label.title,
          );
          w.push(line);
          if (split === 'train') seenInTrain[labelIdx] = 1;
          else if (split === 'test') (seenInTrain[labelIdx] ? seen : unseen).push(line);
        } catch (err) {
          if (!(err instanceof DataError) || !opts.skipInvalid || err.path !== path) throw err;
          skipped++;
          warnings.add('skipped-mention', err.message);
        }
        if (opts.onProgress && lines % 10000 === 0) opts.onProgress(split, lines);
      }
      if (lines === 0) warnings.add('empty-mentions-file', `${path}: empty (no mentions; an empty ${split}.jsonl is written)`);
      opts.onProgress?.(split, lines);
      splits[split] = { file: join(outDir, `${split}.jsonl`), mentions: w.count, skipped };
    }
    out.commit();
    return {
      outDir,
      entities: nEnt,
      contextDocuments: contexts.size,
      splits,
      testSeen: seen.count,
      testUnseen: unseen.count,
      warnings: warnings.toJSON(),
    };
  } catch (e) {
    out.abort();
    throw e;
  } finally {
    entities.close();
    contexts.close();
  }
}
