import { DataError } from './errors.js';
import { LineReader, isBlank, parseJsonLine, readLines } from './lines.js';
import { asDocument, type DocumentRecord } from './arboel.js';

/** A growable Float64 column (offsets beyond 2^31 bytes need more than Int32). */
class Column {
  data: Float64Array;
  length = 0;
  constructor(initial = 1024) {
    this.data = new Float64Array(initial);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const d = new Float64Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = v;
  }
}

/**
 * Documents of one or more JSON-lines files, indexed by document_id without holding their text:
 * each line is validated once while indexing, and re-read by byte position when needed, so
 * millions of entities cost a Map entry and three numbers each.
 */
export class DocumentIndex {
  readonly ids = new Map<string, number>();
  private readonly files: string[] = [];
  private readonly readers: LineReader[] = [];
  private readonly fileOf = new Column();
  private readonly offsets = new Column();
  private readonly lengths = new Column();
  private readonly lineNos = new Column();
  private cache = new Map<number, DocumentRecord>();

  constructor(private readonly cacheSize = 4096) {}

  get size(): number {
    return this.offsets.length;
  }

  /**
   * Index a file. `onLine` may veto an id (throwing); duplicates within this index are errors.
   * Returns the number of documents added.
   */
  async addFile(path: string, check?: (id: string, line: number) => void): Promise<number> {
    const fileIdx = this.files.length;
    this.files.push(path);
    let n = 0;
    for await (const l of readLines(path)) {
      if (isBlank(l.text)) continue;
      const doc = asDocument(parseJsonLine(l.text, path, l.line), path, l.line);
      const prev = this.ids.get(doc.document_id);
      if (prev !== undefined) {
        throw new DataError(
          path,
          l.line,
          `duplicate document_id ${JSON.stringify(doc.document_id)} (first at ${this.where(prev)}); expected unique ids`,
        );
      }
      check?.(doc.document_id, l.line);
      this.ids.set(doc.document_id, this.size);
      this.fileOf.push(fileIdx);
      this.offsets.push(l.offset);
      this.lengths.push(l.length);
      this.lineNos.push(l.line);
      n++;
    }
    return n;
  }

  /** `path:line` of document number `idx`. */
  where(idx: number): string {
    return `${this.files[this.fileOf.data[idx]!]}:${this.lineNos.data[idx]}`;
  }

  /** Document number `idx` (its line index across the indexed files). */
  get(idx: number): DocumentRecord {
    const hit = this.cache.get(idx);
    if (hit) return hit;
    const f = this.fileOf.data[idx]!;
    let reader = this.readers[f];
    if (!reader) reader = this.readers[f] = new LineReader(this.files[f]!);
    const line = this.lineNos.data[idx]!;
    const text = reader.read(this.offsets.data[idx]!, this.lengths.data[idx]!, line);
    const doc = asDocument(parseJsonLine(text, this.files[f]!, line), this.files[f]!, line);
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as number);
    this.cache.set(idx, doc);
    return doc;
  }

  close(): void {
    for (const r of this.readers) r?.close();
    this.readers.length = 0;
    this.cache.clear();
  }
}
