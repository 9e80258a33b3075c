// The one line reader of every command that reads text (prepare, import-pubtator, encode's input,
// tokenize, dictionaries) and its text policy: streamed in chunks (no whole-file string, so a file
// far beyond V8's longest string is read), `\n` ends a line and a `\r` before it is dropped, a
// UTF-8 BOM at the start is skipped, invalid UTF-8 is an error naming path:line and the byte
// (found in one pass), a line longer than a limit is an error naming path:line, and the whole
// text may be bounded too (gzip input is inflated as a stream, so the bound holds while inflating).
import { closeSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { DataError } from './errors.js';
import { openRegular, openRegularSync, readFullySync } from './files.js';
import { invalidUtf8At } from './utf8.js';

/** One line of a text file: 1-based number, byte offset and byte length (without the line end). */
export interface Line {
  readonly line: number;
  readonly offset: number;
  readonly length: number;
  readonly text: string;
}

/** Bounds of one read; every field is optional. */
export interface LineLimits {
  /** Longest line in bytes, line end excluded (default {@link DEFAULT_MAX_LINE_BYTES}). */
  maxLineBytes?: number;
  /** Most bytes the whole text may hold, after inflating gzip input (default: no bound). */
  maxBytes?: number;
  /** Inflate gzip input (recognised by its first two bytes) as a stream (default false). */
  gunzip?: boolean;
}

/** 64 MiB: far above any real line of the formats read here, far below V8's longest string. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

const CHUNK = 1 << 20;
// Like the decoder of old, this drops one BOM at the start of each line (cache-rows.ts relies on it).
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decode UTF-8 strictly; a bad byte becomes `path:line: invalid UTF-8 near byte N ...`. */
export function decodeUtf8(bytes: Uint8Array, path: string, line: number): string {
  try {
    return decoder.decode(bytes);
  } catch {
    const at = invalidUtf8At(bytes);
    throw new DataError(path, line, `invalid UTF-8 near byte ${at < 0 ? 1 : at + 1} of the line (expected UTF-8 text)`);
  }
}

function limitsOf(l: LineLimits | undefined): { maxLine: number; maxBytes: number } {
  const maxLine = l?.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxBytes = l?.maxBytes ?? Number.POSITIVE_INFINITY;
  if (!(maxLine > 0) || !(maxBytes >= 0))
    throw new RangeError(`line limits must be positive, got maxLineBytes ${maxLine}, maxBytes ${maxBytes}`);
  return { maxLine, maxBytes };
}

/**
 * Splits a byte stream into lines under the text policy. Feed it chunks with {@link push} (which
 * may reuse its buffer afterwards: pending bytes are copied) and call {@link finish} at the end.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Stream offset of the first pending byte (the start of the line being collected). */
  private lineStart = 0;
  /** Stream offset of the next byte pushed. */
  private pos = 0;
  private lineNo = 0;
  private head: Buffer | null = Buffer.alloc(0);
  private total = 0;
  private readonly maxLine: number;
  private readonly maxBytes: number;

  constructor(
    readonly path: string,
    limits?: LineLimits,
  ) {
    ({ maxLine: this.maxLine, maxBytes: this.maxBytes } = limitsOf(limits));
  }

  /** Lines completed by `chunk`. */
  *push(chunk: Uint8Array): Generator<Line> {
    this.total += chunk.length;
    if (this.total > this.maxBytes) {
      throw new DataError(
        this.path,
        undefined,
        `more than ${this.maxBytes} bytes of text, the limit for this file (a decompression bomb?)`,
      );
    }
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.head) {
      // The BOM check needs the first three bytes, which may arrive in pieces.
      const got = Buffer.concat([this.head, data]);
      if (got.length < 3) {
        this.head = got;
        return;
      }
      this.head = null;
      data = got;
      if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
        data = data.subarray(3);
        this.pos = 3;
        this.lineStart = 3;
      }
    }
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const len = this.partsLen + (nl - start);
      if (len > this.maxLine + 1) this.tooLong(this.lineNo + 1);
      const bytes = this.partsLen ? Buffer.concat([...this.parts, data.subarray(start, nl)], len) : data.subarray(start, nl);
      this.parts = [];
      this.partsLen = 0;
      yield this.emit(bytes);
      this.pos += nl + 1 - start;
      this.lineStart = this.pos;
      start = nl + 1;
    }
    const rest = data.length - start;
    if (rest > 0) {
      if (this.partsLen + rest > this.maxLine + 1) this.tooLong(this.lineNo + 1);
      this.parts.push(Buffer.from(data.subarray(start))); // a copy: the caller reuses its buffer
      this.partsLen += rest;
      this.pos += rest;
    }
  }

  /** The last line, when the text does not end with `\n`. */
  *finish(): Generator<Line> {
    const h = this.head;
    this.head = null; // fewer than three bytes in all: no BOM is possible
    if (h?.length) {
      this.total -= h.length; // counted when it arrived
      yield* this.push(h);
    }
    if (this.partsLen > 0) {
      const bytes = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
      yield this.emit(bytes);
    }
  }

  private emit(raw: Buffer): Line {
    let end = raw.length;
    if (end > 0 && raw[end - 1] === 0x0d) end--;
    const lineNo = ++this.lineNo;
    if (end > this.maxLine) this.tooLong(lineNo);
    return { line: lineNo, offset: this.lineStart, length: end, text: decodeUtf8(raw.subarray(0, end), this.path, lineNo) };
  }

  private tooLong(line: number): never {
    throw new DataError(
      this.path,
      line,
      `line longer than ${this.maxLine} bytes (the limit for one line); expected line-separated records`,
    );
  }
}

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Stream a file line by line as strict UTF-8, with byte offsets (so a line can be re-read later
 * by position; for gzip input the offsets are those of the inflated text). Regular files only.
 */
export async function* readLines(path: string, limits?: LineLimits): AsyncGenerator<Line> {
  const fail = (d: string) => new DataError(path, undefined, d);
  const { fh } = await openRegular(path, fail);
  const split = new LineSplitter(path, limits);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    const first = await fh.read(buf, 0, CHUNK, 0);
    if (limits?.gunzip && isGzip(buf.subarray(0, first.bytesRead))) {
      yield* gunzipLines(fh, split, path);
      return;
    }
    let n = first.bytesRead;
    while (n > 0) {
      pos += n;
      yield* split.push(buf.subarray(0, n));
      n = (await fh.read(buf, 0, CHUNK, pos)).bytesRead;
    }
    yield* split.finish();
  } finally {
    await fh.close();
  }
}

async function* gunzipLines(fh: import('node:fs/promises').FileHandle, split: LineSplitter, path: string): AsyncGenerator<Line> {
  const gz = createGunzip({ chunkSize: 1 << 16 });
  const input = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: CHUNK });
  input.on('error', (e) => gz.destroy(e));
  input.pipe(gz);
  try {
    // The consumer's pace drives the inflater (backpressure): at most a few chunks are in memory.
    for await (const chunk of gz as AsyncIterable<Buffer>) yield* split.push(chunk);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(path, undefined, `corrupt gzip data (${(e as Error).message})`);
  } finally {
    input.unpipe(gz);
    input.destroy();
    gz.destroy();
    if (!input.closed) await once(input, 'close').catch(() => undefined);
  }
  yield* split.finish();
}

/** The synchronous twin of {@link readLines} (plain text only). */
export function* readLinesSync(path: string, limits?: LineLimits): Generator<Line> {
  const fail = (d: string) => new DataError(path, undefined, d);
  const { fd } = openRegularSync(path, fail);
  const split = new LineSplitter(path, limits);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    for (;;) {
      const n = readSome(fd, buf, pos, fail);
      if (n === 0) break;
      pos += n;
      yield* split.push(buf.subarray(0, n));
    }
    yield* split.finish();
  } finally {
    closeSync(fd);
  }
}

function readSome(fd: number, buf: Buffer, pos: number, fail: (d: string) => Error): number {
  try {
    return readSync(fd, buf, 0, buf.length, pos);
  } catch (e) {
    throw fail(`read failed: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Parse one JSON line; a syntax error becomes `path:line: invalid JSON ...`. */
export function parseJsonLine(text: string, path: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(path, line, `invalid JSON (${(e as Error).message}); expected one JSON object a line`);
  }
}

/** True for a line holding only whitespace (blank lines are skipped). */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}

/**
 * Async iterator over the JSON values of a JSON-lines file (blank lines skipped), streaming:
 * memory stays bounded however long the file is.
 */
export async function* readJsonl(path: string, limits?: LineLimits): AsyncGenerator<unknown> {
  for await (const l of readLines(path, limits)) {
    if (isBlank(l.text)) continue;
    yield parseJsonLine(l.text, path, l.line);
  }
}

/** Same as {@link readJsonl} with line numbers, for callers that report positions. */
export async function* readJsonlWithLines(path: string, limits?: LineLimits): AsyncGenerator<{ line: number; value: unknown }> {
  for await (const l of readLines(path, limits)) {
    if (isBlank(l.text)) continue;
    yield { line: l.line, value: parseJsonLine(l.text, path, l.line) };
  }
}

/** Random access to lines recorded by byte position (synchronous `pread`). */
export class LineReader {
  private fd: number;
  private buf = Buffer.allocUnsafe(1 << 16);
  constructor(readonly path: string) {
    this.fd = openRegularSync(path, (d) => new DataError(path, undefined, d)).fd;
  }
  read(offset: number, length: number, line: number): string {
    if (this.buf.length < length) this.buf = Buffer.allocUnsafe(Math.max(length, this.buf.length * 2));
    const dst = this.buf.subarray(0, length);
    readFullySync(this.fd, dst, offset, () => new DataError(this.path, line, 'file changed while it was being read'));
    return decodeUtf8(dst, this.path, line);
  }
  close(): void {
    closeSync(this.fd);
  }
}
