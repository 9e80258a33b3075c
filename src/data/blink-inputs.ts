import { tokenizeHead, tokenizeTail } from '../tokenize/truncate.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';

/**
 * BLINK's model inputs, reproducing the original get_context_representation /
 * get_candidate_representation token for token (including Python slice semantics).
 */

export const ENT_START_TAG = '[unused0]';
export const ENT_END_TAG = '[unused1]';
export const ENT_TITLE_TAG = '[unused2]';

export interface Representation {
  tokens: string[];
  /** Exactly `maxLength` ids, 0-padded. */
  ids: Int32Array;
  /**
   * True when the original would have failed its length assertion (a mention of at least
   * `maxLength - 1` pieces with its markers, or the `left[-0:]` slice that keeps the whole left
   * context); the window was then built by the documented fallback instead.
   */
  overflow: boolean;
}

/** Python `xs[-q:]` (q may be 0 or negative: `xs[-0:]` is the whole list). */
function pyTail<T>(xs: T[], q: number): T[] {
  return xs.slice(-q); // JS slice(-q) follows Python for every integer q, including 0 -> whole list
}

/** Python `xs[:q]` (negative q drops from the end). */
function pyHead<T>(xs: T[], q: number): T[] {
  return xs.slice(0, q);
}

function padIds(tok: WordPieceTokenizer, tokens: string[], maxLength: number): Int32Array {
  const ids = new Int32Array(maxLength);
  ids.set(tok.convertTokensToIds(tokens).slice(0, maxLength));
  return ids;
}

function window(mentionTokens: string[], left: string[], right: string[], maxLength: number): string[] {
  let leftQuota = Math.floor((maxLength - mentionTokens.length) / 2) - 1;
  let rightQuota = maxLength - mentionTokens.length - leftQuota - 2;
  const leftAdd = left.length;
  const rightAdd = right.length;
  if (leftAdd <= leftQuota) {
    if (rightAdd > rightQuota) rightQuota += leftQuota - leftAdd;
  } else if (rightAdd <= rightQuota) {
    leftQuota += rightQuota - rightAdd;
  }
  return ['[CLS]', ...pyTail(left, leftQuota), ...mentionTokens, ...pyHead(right, rightQuota), '[SEP]'];
}

/**
 * `[CLS] left [unused0] mention [unused1] right [SEP]`, `maxLength` ids. The left/right quota rule:
 * left_quota = (max - len(mention_tokens)) // 2 - 1, right_quota = max - len(mention_tokens) -
 * left_quota - 2, the spare quota of a short side moves to the other side, then
 * `left[-left_quota:] + mention + right[:right_quota]`. An empty mention gets no markers.
 *
 * Where the original would fail its assertion (window longer than `maxLength`), we do not throw:
 * the mention pieces are cut so that `[unused0] pieces [unused1]` fit in `maxLength - 2`, and a
 * left quota of 0 takes no left context (the original's `left[-0:]` would take all of it).
 */
export function contextRepresentation(
  tok: WordPieceTokenizer,
  mention: string,
  contextLeft: string,
  contextRight: string,
  maxLength: number,
): Representation {
  // No side can contribute more than maxLength pieces, and the quota rule only compares lengths
  // with quotas below maxLength: so maxLength + 1 pieces of each (the last ones of the left
  // context) give the same window, and a long document is tokenised only near the mention.
  const cap = maxLength + 1;
  const sp = tok.specialTokens ?? null;
  let mentionPieces = mention.length > 0 ? tokenizeHead(tok, mention, cap, sp) : [];
  const withMarkers = (p: string[]) => (mention.length > 0 ? [ENT_START_TAG, ...p, ENT_END_TAG] : []);
  const left = tokenizeTail(tok, contextLeft, cap, sp);
  const right = tokenizeHead(tok, contextRight, cap, sp);
  let tokens = window(withMarkers(mentionPieces), left, right, maxLength);
  let overflow = false;
  if (tokens.length > maxLength) {
    overflow = true;
    const room = maxLength - 2 - (mention.length > 0 ? 2 : 0);
    mentionPieces = mentionPieces.slice(0, Math.max(0, room));
    const m = withMarkers(mentionPieces).slice(0, Math.max(0, maxLength - 2));
    tokens = window(m, left, right, maxLength);
    if (tokens.length > maxLength) {
      // Only the left[-0:] case remains: take no left context.
      const rightQuota = maxLength - 2 - m.length;
      tokens = ['[CLS]', ...m, ...right.slice(0, Math.max(0, rightQuota)), '[SEP]'];
    }
  }
  return { tokens, ids: padIds(tok, tokens, maxLength), overflow };
}

/**
 * `[CLS] title [unused2] text [SEP]` (or `[CLS] text [SEP]` without a title), pieces cut to
 * `maxLength - 2`, 0-padded to `maxLength`.
 */
export function candidateRepresentation(tok: WordPieceTokenizer, text: string, maxLength: number, title?: string | null): Representation {
  // Only the first maxLength - 2 pieces are kept: the texts are tokenised only that far.
  const sp = tok.specialTokens ?? null;
  let pieces = tokenizeHead(tok, text, Math.max(0, maxLength), sp);
  if (title !== undefined && title !== null) pieces = [...tokenizeHead(tok, title, Math.max(0, maxLength), sp), ENT_TITLE_TAG, ...pieces];
  pieces = pyHead(pieces, maxLength - 2);
  const tokens = ['[CLS]', ...pieces, '[SEP]'];
  return { tokens, ids: padIds(tok, tokens, maxLength), overflow: false };
}
