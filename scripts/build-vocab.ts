/**
 * Trains the default dataset's WordPiece vocabulary from the dataset's own text.
 *
 *   npx tsx scripts/build-vocab.ts [dataDir] [targetSize]     (default: data/default 6000)
 *
 * Pre-tokenization follows BERT's uncased BasicTokenizer: drop NUL, U+FFFD and control
 * characters, treat Unicode space separators as spaces, put spaces around CJK ideographs,
 * split on whitespace, lower-case, strip accents (NFD, drop combining marks), and split every
 * punctuation character (ASCII symbols and Unicode P*) into its own word.
 *
 * Learning: the merge procedure of Hugging Face's WordPiece trainer (which is BPE with a "##"
 * continuation prefix). Each word starts as characters, non-initial ones prefixed with "##";
 * we repeatedly merge the adjacent pair with the highest frequency over the corpus (ties broken
 * by the pair's strings, so the result is deterministic) and add the merged piece to the vocab,
 * until the vocab reaches the target size or no pair occurs at least `minPairCount` times
 * (2 by default: on the default dataset this stops at about 5,350 entries, below the 6,000 cap).
 *
 * Vocab layout (BERT's): [PAD]=0, [unused0]..[unused9]=1..10, [UNK], [CLS], [SEP], [MASK],
 * then every character seen (each bare and with "##", sorted by code point), then the learned
 * pieces in the order they were merged. Because every character exists in both forms, greedy
 * longest-match WordPiece never needs [UNK] on this corpus.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SPECIAL_TOKENS: readonly string[] = [
  '[PAD]',
  ...Array.from({ length: 10 }, (_, i) => `[unused${i}]`),
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
];
export const DEFAULT_VOCAB_SIZE = 6000;
/** A piece must be backed by at least two occurrences; single typos do not earn vocab entries. */
export const DEFAULT_MIN_PAIR_COUNT = 2;

// --- BERT basic tokenization ------------------------------------------------------------------

const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch);
const isControl = (ch: string): boolean => !(ch === '\t' || ch === '\n' || ch === '\r') && /[\p{Cc}\p{Cf}]/u.test(ch);
export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0) as number;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /\p{P}/u.test(ch);
}
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BERT uncased BasicTokenizer: the words WordPiece then splits. */
export function basicTokenize(text: string): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isWhitespace(ch)) cleaned += ' ';
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const out: string[] = [];
  for (const raw of cleaned.split(' ')) {
    if (!raw) continue;
    const word = raw
      .toLowerCase()
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '');
    let cur = '';
    for (const ch of word) {
      if (isPunctuation(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** Greedy longest-match-first WordPiece of one word (BERT's; 100-character word limit). */
export function wordpieceWord(word: string, vocab: ReadonlySet<string>, maxChars = 100): string[] {
  const chars = Array.from(word);
  if (chars.length > maxChars) return ['[UNK]'];
  const pieces: string[] = [];
  let start = 0;
  while (start < chars.length) {
    let end = chars.length;
    let found: string | null = null;
    while (start < end) {
      const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
      if (vocab.has(sub)) {
        found = sub;
        break;
      }
      end--;
    }
    if (found === null) return ['[UNK]'];
    pieces.push(found);
    start = end;
  }
  return pieces;
}

// --- trainer ----------------------------------------------------------------------------------

const SEP = '\u0000';

/**
 * Learns WordPiece pieces from word counts. Returns the whole vocab (specials, characters,
 * merges), at most `targetSize` entries unless the alphabet alone is larger.
 */
export function trainWordPiece(wordCounts: ReadonlyMap<string, number>, targetSize: number, minPairCount = 1): string[] {
  const words = [...wordCounts.keys()].sort();
  const counts = words.map((w) => wordCounts.get(w) as number);
  const symbols: string[][] = words.map((w) => Array.from(w).map((ch, i) => (i === 0 ? ch : `##${ch}`)));

  const alphabet = new Set<string>();
  for (const w of words) for (const ch of w) alphabet.add(ch);
  const chars = [...alphabet].sort((a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number));
  const vocab: string[] = [...SPECIAL_TOKENS];
  const inVocab = new Set(vocab);
  for (const ch of chars)
    for (const t of [ch, `##${ch}`])
      if (!inVocab.has(t)) {
        inVocab.add(t);
        vocab.push(t);
      }

  // Pair counts and, per pair, the words that hold it (so a merge only revisits those words).
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addWord = (wi: number, sign: 1 | -1): void => {
    const s = symbols[wi] as string[];
    const c = (counts[wi] as number) * sign;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] + SEP + s[i + 1];
      const next = (pairCount.get(key) ?? 0) + c;
      if (next === 0) pairCount.delete(key);
      else pairCount.set(key, next);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) {
          set = new Set();
          pairWords.set(key, set);
        }
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);

  while (vocab.length < targetSize) {
    let best: string | null = null;
    let bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === null || bestCount < minPairCount) break;
    const [a, b] = best.split(SEP) as [string, string];
    const merged = a + b.slice(2);
    for (const wi of [...(pairWords.get(best) ?? [])].sort((x, y) => x - y)) {
      const s = symbols[wi] as string[];
      addWord(wi, -1);
      const next: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(s[i] as string);
      }
      symbols[wi] = next;
      addWord(wi, 1);
    }
    pairWords.delete(best);
    if (!inVocab.has(merged)) {
      inVocab.add(merged);
      vocab.push(merged);
    }
  }
  return vocab;
}

// --- corpus + files ---------------------------------------------------------------------------

/** Every text of an arboEL-layout dataset: entity titles and texts, context passages. */
export function datasetTexts(dataDir: string): string[] {
  const texts: string[] = [];
  for (const rel of ['documents/all_documents.json', 'documents/train.json', 'documents/val.json', 'documents/test.json']) {
    const lines = readFileSync(join(dataDir, rel), 'utf8').split('\n');
    for (const line of lines) {
      if (!line.trim()) continue;
      const doc = JSON.parse(line) as { title?: unknown; text?: unknown };
      if (typeof doc.title === 'string') texts.push(doc.title);
      if (typeof doc.text === 'string') texts.push(doc.text);
    }
  }
  return texts;
}

export function countWords(texts: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of basicTokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

export const TOKENIZER_CONFIG = {
  do_lower_case: true,
  strip_accents: null,
  tokenize_chinese_chars: true,
  unk_token: '[UNK]',
  sep_token: '[SEP]',
  pad_token: '[PAD]',
  cls_token: '[CLS]',
  mask_token: '[MASK]',
  model_max_length: 512,
  tokenizer_class: 'BertTokenizer',
} as const;

function writeAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Reads `dataDir`, trains, writes `outDir`/vocab.txt and tokenizer_config.json; returns the vocab. */
export function buildVocab(dataDir: string, outDir: string = dataDir, targetSize = DEFAULT_VOCAB_SIZE): string[] {
  const vocab = trainWordPiece(countWords(datasetTexts(dataDir)), targetSize, DEFAULT_MIN_PAIR_COUNT);
  writeAtomic(join(outDir, 'vocab.txt'), vocab.join('\n') + '\n');
  writeAtomic(join(outDir, 'tokenizer_config.json'), JSON.stringify(TOKENIZER_CONFIG, null, 2) + '\n');
  return vocab;
}

export const DEFAULT_DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'default');

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dataDir = resolve(process.argv[2] ?? DEFAULT_DATA_DIR);
  const size = process.argv[3] ? Number(process.argv[3]) : DEFAULT_VOCAB_SIZE;
  const t0 = Date.now();
  const vocab = buildVocab(dataDir, dataDir, size);
  console.log(`wrote ${join(dataDir, 'vocab.txt')}: ${vocab.length} entries in ${Date.now() - t0} ms`);
}
