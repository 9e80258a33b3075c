import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import type { WordPieceTokenizer } from '../tokenize/types.js';

/**
 * How a worker thread rebuilds the caller's tokenizer (objects cannot cross threads): the module
 * to import, the exported function to call and its JSON arguments, e.g.
 * `{ module: '<abs path>/src/tokenize/index.js', export: 'fromVocab', args: [vocab, { lowercase: true }] }`.
 */
export interface TokenizerFactory {
  module: string;
  export: string;
  args: unknown[];
}

export async function loadTokenizerFactory(f: TokenizerFactory): Promise<WordPieceTokenizer> {
  const spec = isAbsolute(f.module) ? pathToFileURL(f.module).href : f.module;
  const mod = (await import(spec)) as Record<string, unknown>;
  const fn = mod[f.export];
  if (typeof fn !== 'function') throw new Error(`${f.module} has no exported function ${f.export}`);
  return (await (fn as (...a: unknown[]) => WordPieceTokenizer | Promise<WordPieceTokenizer>)(...f.args)) as WordPieceTokenizer;
}
