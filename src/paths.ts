// Where the package's own files are, whether it runs from src/ (tests, tsx) or dist/src/ (built).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const fromTs = import.meta.url.endsWith('.ts');

/** The package root (package.json, data/, build/). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), ...(fromTs ? ['..'] : ['..', '..']));

/** A module of this package as a file path that a worker thread can import (`tokenize/index`). */
export function moduleFile(stem: string): string {
  return join(PACKAGE_ROOT, fromTs ? 'src' : join('dist', 'src'), `${stem}${fromTs ? '.ts' : '.js'}`);
}

/** The built-in dataset (arboEL layout) and its vocabulary, inside the installed package. */
export const builtinData = {
  /** The raw folder: documents/ and mentions/ (give it to `prepare`). */
  dir: join(PACKAGE_ROOT, 'data', 'default'),
  /** Its entity dictionary. */
  entityDictPath: join(PACKAGE_ROOT, 'data', 'default', 'documents', 'all_documents.json'),
  /** The WordPiece vocabulary of built-in model sizes. */
  vocabPath: join(PACKAGE_ROOT, 'data', 'default', 'vocab.txt'),
} as const;
