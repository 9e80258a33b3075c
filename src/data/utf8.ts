// Strict UTF-8 (the WHATWG decoder's rules: no overlong forms, no surrogates, nothing above
// U+10FFFF) with the position of the first bad byte found in one pass. The fast path is the
// native decoder; this scan runs only once that has failed, so a long line with a bad byte costs
// one extra linear pass, not a decode of every prefix.

/** Index of the first byte of the first invalid sequence in `b`, or -1 when `b` is valid UTF-8. */
export function invalidUtf8At(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0)
        lo = 0xa0; // overlong
      else if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0)
        lo = 0x90; // overlong
      else if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return i; // truncated sequence
      const d = b[i + k]!;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i; // the sequence starting at i is broken
    }
    i += need + 1;
  }
  return -1;
}
