/**
 * A minimal, defensive zip reader for torch.save archives: central directory (zip64 included),
 * stored and deflated entries, CRC-32 checked where Node provides zlib.crc32.
 * Refused: encrypted entries, methods other than stored/deflate, names that are absolute, contain
 * `..`, backslashes or NUL, duplicate names, entries outside the file or overlapping each other.
 */
import * as zlib from 'node:zlib';
import type { ByteSource } from './bytes.js';
import { CheckpointError } from './types.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Absolute position of the entry's (possibly compressed) bytes. */
  dataStart: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

const crc32: ((data: Uint8Array) => number) | undefined = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(view: DataView, off: number, file: string, what: string): number {
  const v = view.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(file, `zip: ${what} ${v} is too large`);
  return Number(v);
}

/** Why an entry name is unsafe to honour, or null when it is fine. */
export function unsafeZipName(name: string): string | null {
  if (name.length === 0) return 'empty name';
  if (name.includes('\0')) return 'NUL in name';
  if (name.includes('\\')) return 'backslash in name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'absolute path';
  if (name.split('/').some((p) => p === '..')) return "'..' path component";
  return null;
}

export class ZipReader {
  readonly entries: ZipEntry[] = [];
  private readonly byName = new Map<string, ZipEntry>();

  constructor(private readonly src: ByteSource) {
    const file = src.name;
    const fail = (msg: string): never => {
      throw new CheckpointError(file, `zip: ${msg}`);
    };
    if (src.size < 22) fail(`file is ${src.size} bytes, too short for a zip archive (truncated?)`);
    // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
    const tailLen = Math.min(src.size, 22 + 65535);
    const tail = src.read(src.size - tailLen, tailLen, 'zip end record');
    const tv = dv(tail);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail('no end-of-central-directory record (truncated or not a zip file?)');
    const eocdAbs = src.size - tailLen + eocd;
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) fail('multi-disk archives are not supported');
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      if (eocdAbs < 20) fail('zip64 locator missing');
      const loc = dv(src.read(eocdAbs - 20, 20, 'zip64 locator'));
      if (loc.getUint32(0, true) !== SIG_EOCD64_LOC) fail('zip64 locator missing');
      const at = u64(loc, 8, file, 'zip64 record offset');
      const rec = dv(src.read(at, 56, 'zip64 end record'));
      if (rec.getUint32(0, true) !== SIG_EOCD64) fail('bad zip64 end-of-central-directory signature');
      count = u64(rec, 32, file, 'entry count');
      cdSize = u64(rec, 40, file, 'central directory size');
      cdOffset = u64(rec, 48, file, 'central directory offset');
    }
    if (cdOffset + cdSize > src.size)
      fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies beyond the end of the file (truncated?)`);
    const cd = src.read(cdOffset, cdSize, 'zip central directory');
    const cv = dv(cd);
    let p = 0;
    const ranges: Array<[number, number, string]> = [];
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) fail(`central directory entry ${k} is malformed`);
      const flags = cv.getUint16(p + 8, true);
      const method = cv.getUint16(p + 10, true);
      const crc = cv.getUint32(p + 16, true);
      let csize = cv.getUint32(p + 20, true);
      let usize = cv.getUint32(p + 24, true);
      const nlen = cv.getUint16(p + 28, true);
      const xlen = cv.getUint16(p + 30, true);
      const clen = cv.getUint16(p + 32, true);
      let lho = cv.getUint32(p + 42, true);
      if (p + 46 + nlen + xlen + clen > cd.length) fail(`central directory entry ${k} runs past the directory`);
      const nameBytes = cd.subarray(p + 46, p + 46 + nlen);
      const name = new TextDecoder('utf-8').decode(nameBytes);
      // zip64 extra field: the 0xffffffff fields, in order usize, csize, offset.
      let x = p + 46 + nlen;
      const xend = x + xlen;
      while (x + 4 <= xend) {
        const id = cv.getUint16(x, true);
        const sz = cv.getUint16(x + 2, true);
        if (id === 0x0001) {
          let q = x + 4;
          const take = (): number => {
            if (q + 8 > x + 4 + sz) fail(`entry ${JSON.stringify(name)}: short zip64 extra field`);
            const v = u64(cv, q, file, 'zip64 field');
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = take();
          if (csize === 0xffffffff) csize = take();
          if (lho === 0xffffffff) lho = take();
        }
        x += 4 + sz;
      }
      p += 46 + nlen + xlen + clen;

      const why = unsafeZipName(name);
      if (why) fail(`refusing entry ${JSON.stringify(name)}: ${why}`);
      if (this.byName.has(name)) fail(`duplicate entry ${JSON.stringify(name)}`);
      if (flags & 1) fail(`entry ${JSON.stringify(name)} is encrypted`);
      if (method !== 0 && method !== 8)
        fail(`entry ${JSON.stringify(name)} uses compression method ${method} (only stored and deflate are supported)`);
      if (method === 0 && csize !== usize) fail(`stored entry ${JSON.stringify(name)} has compressed size ${csize} != size ${usize}`);
      if (lho + 30 > src.size) fail(`entry ${JSON.stringify(name)}: local header at ${lho} lies beyond the end of the file (truncated?)`);
      const lh = dv(src.read(lho, 30, 'zip local header'));
      if (lh.getUint32(0, true) !== SIG_LOCAL) fail(`entry ${JSON.stringify(name)}: bad local header signature at ${lho}`);
      const lnlen = lh.getUint16(26, true);
      const lxlen = lh.getUint16(28, true);
      const lname = src.read(lho + 30, lnlen, 'zip local name');
      if (Buffer.compare(Buffer.from(lname), Buffer.from(nameBytes)) !== 0) {
        fail(`entry ${JSON.stringify(name)}: local header name differs from the central directory`);
      }
      const dataStart = lho + 30 + lnlen + lxlen;
      if (dataStart + csize > src.size) {
        fail(
          `entry ${JSON.stringify(name)}: data [${dataStart}, ${dataStart + csize}) lies beyond the end of the file (${src.size} bytes; truncated?)`,
        );
      }
      ranges.push([lho, dataStart + csize, name]);
      const e: ZipEntry = { name, method, compressedSize: csize, size: usize, crc32: crc, dataStart };
      this.entries.push(e);
      this.byName.set(name, e);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![0] < ranges[i - 1]![1])
        fail(`entries ${JSON.stringify(ranges[i - 1]![2])} and ${JSON.stringify(ranges[i]![2])} overlap`);
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * The entry's uncompressed bytes, CRC-checked. `limit` bounds the declared size, checked before
   * anything is read or inflated; a declared size that deflate cannot reach from the stored bytes
   * (over 1032:1) is refused too, and inflating never goes past the declared size.
   */
  read(e: ZipEntry, limit?: { bytes: number; what: string }): Uint8Array {
    const file = this.src.name;
    if (limit && e.size > limit.bytes) {
      throw new CheckpointError(
        file,
        `zip entry ${JSON.stringify(e.name)} declares ${e.size} bytes, over the ${limit.bytes}-byte limit for ${limit.what}`,
      );
    }
    if (e.method === 8 && e.size > e.compressedSize * 1032 + 1024) {
      throw new CheckpointError(
        file,
        `zip entry ${JSON.stringify(e.name)} declares ${e.size} bytes from ${e.compressedSize} deflated bytes, more than deflate can produce (corrupt or hostile)`,
      );
    }
    const raw = this.src.read(e.dataStart, e.compressedSize, `zip entry ${JSON.stringify(e.name)}`);
    let out = raw;
    if (e.method === 8) {
      try {
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(e.size, 1) });
      } catch (err) {
        throw new CheckpointError(file, `zip entry ${JSON.stringify(e.name)}: cannot inflate: ${(err as Error).message}`);
      }
    }
    if (out.length !== e.size) {
      throw new CheckpointError(file, `zip entry ${JSON.stringify(e.name)}: ${out.length} bytes, the directory says ${e.size}`);
    }
    // torch may write a zero CRC when its CRC option is off; check only a recorded one.
    if (crc32 && e.crc32 !== 0 && crc32(out) >>> 0 !== e.crc32) {
      throw new CheckpointError(file, `zip entry ${JSON.stringify(e.name)}: CRC-32 mismatch (corrupt file)`);
    }
    return out;
  }
}
