// Reading a tokenizer file (tokenizer.json, tokenizer_config.json, vocab.txt) under the one text
// policy: a regular file, bounded in size, strict UTF-8 with the bad line named.
import { DataError } from '../data/errors.js';
import { readRegularFileSync } from '../data/files.js';
import { decodeUtf8 } from '../data/lines.js';

/** Most bytes of a tokenizer.json / tokenizer_config.json / vocab.txt read (a real one is < 1 MB). */
export const MAX_TOKENIZER_FILE_BYTES = 256 * 1024 * 1024;

/** A tokenizer file's text: a regular file, bounded, strict UTF-8 (errors name path:line). */
export function readTokenizerText(path: string, what: string): string {
  const bytes = readRegularFileSync(path, MAX_TOKENIZER_FILE_BYTES, (d) => new DataError(path, undefined, d), what);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Name the line of the first bad byte.
    let line = 1;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
      decodeUtf8(bytes.subarray(start, nl), path, line);
      start = nl + 1;
      line++;
    }
    decodeUtf8(bytes.subarray(start), path, line);
    throw new DataError(path, undefined, 'invalid UTF-8');
  }
}
