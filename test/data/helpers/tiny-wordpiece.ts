import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { WordPieceTokenizer } from '../../../src/tokenize/types.js';

/**
 * A small BERT-style WordPiece (basic tokenisation + greedy longest match) used by the data tests
 * so they do not depend on src/tokenize. Lowercasing strips accents, as BERT uncased does.
 */
export class TinyWordPiece implements WordPieceTokenizer {
  private readonly vocab = new Map<string, number>();
  readonly hash: string;
  readonly special: WordPieceTokenizer['special'];

  constructor(
    tokens: readonly string[],
    private readonly lowercase = true,
    salt = '',
  ) {
    tokens.forEach((t, i) => {
      if (!this.vocab.has(t)) this.vocab.set(t, i);
    });
    const id = (t: string) => {
      const v = this.vocab.get(t);
      if (v === undefined) throw new Error(`vocabulary lacks ${t}`);
      return v;
    };
    this.special = {
      pad: id('[PAD]'),
      unk: id('[UNK]'),
      cls: id('[CLS]'),
      sep: id('[SEP]'),
      unused0: id('[unused0]'),
      unused1: id('[unused1]'),
      unused2: id('[unused2]'),
    };
    this.hash = createHash('sha256').update(tokens.join('\n')).update(String(lowercase)).update(salt).digest('hex').slice(0, 16);
  }

  static fromFile(path: string, lowercase = true): TinyWordPiece {
    return new TinyWordPiece(
      readFileSync(path, 'utf8')
        .replace(/\r?\n$/, '')
        .split(/\r?\n/),
      lowercase,
    );
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  private basic(text: string): string[] {
    let clean = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd) continue;
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) clean += ' ';
      else if (/[\p{Cc}\p{Cf}]/u.test(ch)) continue;
      else if (
        (cp >= 0x4e00 && cp <= 0x9fff) ||
        (cp >= 0x3400 && cp <= 0x4dbf) ||
        (cp >= 0xf900 && cp <= 0xfaff) ||
        (cp >= 0x20000 && cp <= 0x2fa1f)
      )
        clean += ` ${ch} `;
      else clean += ch;
    }
    const out: string[] = [];
    for (let word of clean.split(' ').filter((w) => w.length > 0)) {
      if (this.lowercase)
        word = word
          .toLowerCase()
          .normalize('NFD')
          .replace(/\p{Mn}/gu, '');
      let cur = '';
      for (const ch of word) {
        const cp = ch.codePointAt(0)!;
        const punct =
          (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(ch);
        if (punct) {
          if (cur) out.push(cur);
          out.push(ch);
          cur = '';
        } else cur += ch;
      }
      if (cur) out.push(cur);
    }
    return out;
  }

  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const word of this.basic(text)) {
      const chars = [...word];
      if (chars.length > 100) {
        out.push('[UNK]');
        continue;
      }
      const pieces: string[] = [];
      let start = 0;
      let bad = false;
      while (start < chars.length) {
        let end = chars.length;
        let found: string | undefined;
        while (start < end) {
          const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
          if (this.vocab.has(sub)) {
            found = sub;
            break;
          }
          end--;
        }
        if (found === undefined) {
          bad = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      if (bad) out.push('[UNK]');
      else out.push(...pieces);
    }
    return out;
  }

  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.vocab.get(t) ?? this.special.unk);
  }

  encode(text: string): number[] {
    return [this.special.cls, ...this.convertTokensToIds(this.tokenize(text)), this.special.sep];
  }
}

/** A made-up vocabulary for tests that need no real one. */
export function toyTokenizer(salt = ''): TinyWordPiece {
  const words =
    'the a of and with patient asthma disease chronic severe pulmonary left right mention text title pain score blood pressure tnf ##s ##ing ##ed high raised'.split(
      ' ',
    );
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
  return new TinyWordPiece(
    [
      '[PAD]',
      '[unused0]',
      '[unused1]',
      '[unused2]',
      '[UNK]',
      '[CLS]',
      '[SEP]',
      ...words,
      ...letters,
      ...letters.map((l) => '##' + l),
      '.',
      ',',
      '-',
      ';',
      '(',
      ')',
    ],
    true,
    salt,
  );
}
