// The special tokens at the head of a bert-base-uncased style vocab.txt, in its order ([PAD] = 0,
// [unused0..2], [UNK], [CLS], [SEP], [MASK]), for tests that write a tiny vocabulary.
export const BERT_SPECIALS = ['[PAD]', '[unused0]', '[unused1]', '[unused2]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** A vocabulary: the specials, then `words` (ids 8, 9, ...). */
export function tinyVocab(...words: string[]): string[] {
  return [...BERT_SPECIALS, ...words];
}
