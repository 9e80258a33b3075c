/**
 * Byte-for-byte twins of the Python behaviours the original preprocessing relies on:
 * `json.dumps` with its defaults (separators ", " and ": ", ensure_ascii=True) and
 * `str.split()` / `str.strip()` with no arguments (Python's notion of whitespace, which
 * differs from JavaScript's `\s`: it includes \x1c-\x1f and \x85 but not \ufeff).
 */

export type PyJson = string | number | boolean | null | PyJson[] | { [key: string]: PyJson };

const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPLIT_RE = new RegExp(`[${PY_WS}]+`);
const LEAD_RE = new RegExp(`^[${PY_WS}]+`);
const TRAIL_RE = new RegExp(`[${PY_WS}]+$`);
const ANY_WS_RE = new RegExp(`[${PY_WS}]`);

/** Python `s.split()`: runs of whitespace separate, no empty pieces. */
export function pySplit(s: string): string[] {
  if (!ANY_WS_RE.test(s)) return s.length === 0 ? [] : [s];
  const parts = s.split(SPLIT_RE);
  // A leading/trailing run leaves one empty piece at an end.
  const from = parts[0] === '' ? 1 : 0;
  const to = parts[parts.length - 1] === '' ? parts.length - 1 : parts.length;
  return from === 0 && to === parts.length ? parts : parts.slice(from, to);
}

/** Python `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(LEAD_RE, '').replace(TRAIL_RE, '');
}

/** True when `c` (one UTF-16 unit) is whitespace for Python's `str.split()`. */
export function isPyWhitespace(c: string): boolean {
  return ANY_WS_RE.test(c);
}

// Printable ASCII other than `"` and `\` passes through unescaped.
const PLAIN_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const HEX = '0123456789abcdef';

/** Python `json.dumps(s)` for a string (ensure_ascii=True). */
export function pyDumpString(s: string): string {
  if (PLAIN_RE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else out += s[i];
    } else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else {
      // UTF-16 code units, lowercase hex: astral characters become a surrogate pair, as in Python.
      out += '\\u' + HEX[(c >> 12) & 15] + HEX[(c >> 8) & 15] + HEX[(c >> 4) & 15] + HEX[c & 15];
    }
  }
  return out + '"';
}

/** Python `json.dumps(value)` with default arguments, for JSON-compatible values (integers only). */
export function pyDumps(value: PyJson): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return pyDumpString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`pyDumps: only safe integers are supported, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return '[' + value.map(pyDumps).join(', ') + ']';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) parts.push(`${pyDumpString(k)}: ${pyDumps(v)}`);
  return '{' + parts.join(', ') + '}';
}
