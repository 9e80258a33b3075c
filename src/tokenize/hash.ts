import { createHash } from 'node:crypto';

/** Everything that changes which ids a text gets; the token cache keys on its hash. */
export interface TokenizerIdentity {
  /** Vocabulary as `token\tid` lines sorted by id (stable across tokenizer.json / vocab.txt). */
  vocab: ReadonlyArray<readonly [string, number]>;
  normalizer: unknown;
  preTokenizer: unknown;
  model: { unk: string; prefix: string; maxInputCharsPerWord: number };
  /** Added tokens matched verbatim in text. */
  specials: readonly string[];
}

/** JSON with sorted object keys, so the hash does not depend on key order in a config file. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
}

export function tokenizerHash(id: TokenizerIdentity): string {
  const h = createHash('sha256');
  h.update('biofeg-wordpiece-v1\n');
  h.update(canonical({ normalizer: id.normalizer, preTokenizer: id.preTokenizer, model: id.model, specials: [...id.specials].sort() }));
  h.update('\n');
  for (const [tok, i] of id.vocab) h.update(`${i}\t${tok}\n`);
  return h.digest('hex');
}
