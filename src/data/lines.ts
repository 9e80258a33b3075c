import { open, type FileHandle } from 'node:fs/promises';
import { closeSync, openSync, readSync } from 'node:fs';
import { DataError } from './errors.js';

/** One line of a text file: 1-based number, byte offset and byte length (without the line end). */
export interface Line {
  readonly line: number;
  readonly offset: number;
  readonly length: number;
  readonly text: string;
}

const CHUNK = 1 << 20;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decode UTF-8 strictly; a bad byte becomes `path:line: ...`. */
export function decodeUtf8(bytes: Uint8Array, path: string, line: number): string {
  try {
    return decoder.decode(bytes);
  } catch {
    let at = 0;
    // Find the first bad byte so the message can point at it.
    for (let i = 1; i <= bytes.length; i++) {
      try {
        decoder.decode(bytes.subarray(0, i));
        at = i;
      } catch {
        if (i - at > 4) break;
      }
    }
    throw new DataError(path, line, `invalid UTF-8 near byte ${at + 1} of the line (expected UTF-8 text)`);
  }
}

/**
 * Stream a file line by line as strict UTF-8, with byte offsets (so a line can be re-read later
 * by position). `\n` ends a line; a `\r` before it (CRLF files) is dropped; a UTF-8 BOM at the
 * start of the file is skipped.
 */
export async function* readLines(path: string): AsyncGenerator<Line> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new DataError(path, undefined, `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = 0; // file offset of carry[0]
    let fileOffset = 0;
    let lineNo = 0;
    let first = true;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, fileOffset);
      if (bytesRead === 0) break;
      fileOffset += bytesRead;
      let data: Buffer = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
      let dataOffset = carryOffset;
      if (first) {
        first = false;
        if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
          data = data.subarray(3);
          dataOffset += 3;
        }
      }
      let start = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, start);
        if (nl < 0) break;
        let end = nl;
        if (end > start && data[end - 1] === 0x0d) end--;
        lineNo++;
        yield { line: lineNo, offset: dataOffset + start, length: end - start, text: decodeUtf8(data.subarray(start, end), path, lineNo) };
        start = nl + 1;
      }
      carry = data.subarray(start);
      carryOffset = dataOffset + start;
    }
    if (carry.length > 0) {
      let end = carry.length;
      if (carry[end - 1] === 0x0d) end--;
      lineNo++;
      yield { line: lineNo, offset: carryOffset, length: end, text: decodeUtf8(carry.subarray(0, end), path, lineNo) };
    }
  } finally {
    await fh.close();
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
export async function* readJsonl(path: string): AsyncGenerator<unknown> {
  for await (const l of readLines(path)) {
    if (isBlank(l.text)) continue;
    yield parseJsonLine(l.text, path, l.line);
  }
}

/** Same as {@link readJsonl} with line numbers, for callers that report positions. */
export async function* readJsonlWithLines(path: string): AsyncGenerator<{ line: number; value: unknown }> {
  for await (const l of readLines(path)) {
    if (isBlank(l.text)) continue;
    yield { line: l.line, value: parseJsonLine(l.text, path, l.line) };
  }
}

/** Random access to lines recorded by byte position (synchronous `pread`). */
export class LineReader {
  private fd: number;
  private buf = Buffer.allocUnsafe(1 << 16);
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
  }
  read(offset: number, length: number, line: number): string {
    if (this.buf.length < length) this.buf = Buffer.allocUnsafe(Math.max(length, this.buf.length * 2));
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, this.buf, got, length - got, offset + got);
      if (n === 0) throw new DataError(this.path, line, 'file changed while it was being read');
      got += n;
    }
    return decodeUtf8(this.buf.subarray(0, length), this.path, line);
  }
  close(): void {
    closeSync(this.fd);
  }
}
