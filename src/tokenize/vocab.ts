import { DataError } from '../data/errors.js';
import { readTokenizerText } from './read-text.js';

/**
 * Reads a BERT vocab.txt the way HF `load_vocab` does: one token a line, the id is the line number,
 * Python universal newlines (\r\n, \r, \n), a final newline does not add an empty token, and a
 * duplicated token keeps its LAST line number (a Python dict overwrite).
 */
export function readVocabFile(path: string): string[] {
  return parseVocab(readTokenizerText(path, 'a vocab.txt'), path);
}

export function parseVocab(text: string, path = '<vocab>'): string[] {
  // A leading BOM is kept as part of the first token, as Python's utf-8 codec does.
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new DataError(path, 1, 'expected one WordPiece token a line (the file is empty)');
  return lines;
}

/** token -> id with HF's duplicate rule (last line wins). Null prototype: "__proto__" is a token like any other. */
export function vocabToObject(tokens: readonly string[]): Record<string, number> {
  const obj: Record<string, number> = Object.create(null) as Record<string, number>;
  tokens.forEach((t, i) => {
    obj[t] = i;
  });
  return obj;
}
