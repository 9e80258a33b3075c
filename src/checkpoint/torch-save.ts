/**
 * Writer of torch.save's zip format, so that PyTorch code calling `torch.load(path)` (BLINK's
 * `load_model`, `weights_only` or not) reads our checkpoints. The pickle names only
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.FloatStorage / IntStorage,
 * i.e. it is inside torch's weights-only allowlist. Entries are stored (uncompressed), their data
 * 64-byte aligned as torch aligns them; archives beyond 4 GiB (zip64) are refused.
 */
import * as zlib from 'node:zlib';
import { writeFileAtomic } from '../data/atomic.js';
import { CheckpointError, numelOf, shapeString, type HostTensor } from './types.js';

let crcTable: Uint32Array | null = null;
function crc32(b: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(b) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Protocol-2 pickle writer for exactly the objects a state_dict needs. */
class PickleWriter {
  private parts: Buffer[] = [];
  op(...codes: number[]): void {
    this.parts.push(Buffer.from(codes));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }
  int(v: number): void {
    if (v >= 0 && v < 256)
      this.op(0x4b, v); // BININT1
    else if (v >= -0x80000000 && v <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(v, 1);
      this.parts.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1, 8 bytes
      b[1] = 8;
      b.writeBigInt64LE(BigInt(v), 2);
      this.parts.push(b);
    }
  }
  float(v: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT (big-endian f64)
    b.writeDoubleBE(v, 1);
    this.parts.push(b);
  }
  global(module: string, name: string): void {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
  }
  intTuple(xs: readonly number[]): void {
    this.op(0x28); // MARK
    for (const x of xs) this.int(x);
    this.op(0x74); // TUPLE
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const ALIGN = 64;

/** A value torch.save can hold here: a tensor, a str / int / float / bool / None, or a dict of them. */
export type TorchSaveValue = HostTensor | string | number | boolean | null | TorchDict;

/** A Python dict (or collections.OrderedDict, as state_dict() returns) with str keys. */
export interface TorchDict {
  readonly pyType: 'dict' | 'OrderedDict';
  readonly items: Iterable<readonly [string, TorchSaveValue]>;
}

export function torchDict(
  items: Map<string, TorchSaveValue> | Iterable<readonly [string, TorchSaveValue]>,
  pyType: TorchDict['pyType'] = 'dict',
): TorchDict {
  return { pyType, items };
}

function isTorchDict(v: TorchSaveValue): v is TorchDict {
  return typeof v === 'object' && v !== null && 'pyType' in v;
}

/** The bytes of a torch.save zip archive holding `tensors` as an OrderedDict state_dict. */
export function encodeTorchCheckpoint(
  tensors: Map<string, HostTensor> | Iterable<readonly [string, HostTensor]>,
  top = 'archive',
): Uint8Array[] {
  return encodeTorchSave(torchDict(tensors, 'OrderedDict'), top);
}

/**
 * The bytes of a torch.save zip archive holding `value`, e.g. a dict of state_dicts (the
 * original BioFEG's GAN checkpoints). Dict keys are str; tensors are f32 or i32, contiguous.
 */
export function encodeTorchSave(value: TorchSaveValue, top = 'archive'): Uint8Array[] {
  if (!/^[A-Za-z0-9_.-]+$/.test(top) || top === '..' || top === '.')
    throw new CheckpointError('<torch.save>', `bad archive folder name ${JSON.stringify(top)}`);
  const p = new PickleWriter();
  const storages: Uint8Array[] = [];
  const tensor = (name: string, t: HostTensor): void => {
    const n = numelOf(t.shape);
    if (n !== t.data.length)
      throw new CheckpointError(
        '<torch.save>',
        `tensor ${JSON.stringify(name)}: shape ${shapeString(t.shape)} does not match ${t.data.length} elements`,
      );
    const stride: number[] = [];
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride.unshift(s);
      s *= t.shape[i]!;
    }
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op(0x28, 0x28); // MARK (args), MARK (persistent id)
    p.str('storage');
    p.global('torch', t.data instanceof Float32Array ? 'FloatStorage' : 'IntStorage');
    p.str(String(storages.length));
    p.str('cpu');
    p.int(n);
    p.op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0);
    p.intTuple(t.shape);
    p.intTuple(stride);
    p.op(0x89); // NEWFALSE (requires_grad)
    p.global('collections', 'OrderedDict');
    p.op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE (hooks), TUPLE, REDUCE
    storages.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  };
  const put = (name: string, v: TorchSaveValue): void => {
    if (v === null)
      p.op(0x4e); // NONE
    else if (typeof v === 'boolean') p.op(v ? 0x88 : 0x89);
    else if (typeof v === 'string') p.str(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) p.int(v);
      else p.float(v);
    } else if (isTorchDict(v)) {
      if (v.pyType === 'OrderedDict') {
        p.global('collections', 'OrderedDict');
        p.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
      } else p.op(0x7d); // EMPTY_DICT
      p.op(0x28); // MARK
      const seen = new Set<string>();
      for (const [k, x] of v.items) {
        if (seen.has(k)) throw new CheckpointError('<torch.save>', `duplicate key ${JSON.stringify(k)}${name ? ` in ${name}` : ''}`);
        seen.add(k);
        p.str(k);
        put(name ? `${name}.${k}` : k, x);
      }
      p.op(0x75); // SETITEMS
    } else tensor(name, v);
  };
  p.op(0x80, 2); // PROTO 2
  put('', value);
  p.op(0x2e); // STOP

  const entries: Array<{ name: string; data: Uint8Array }> = [
    { name: `${top}/data.pkl`, data: p.bytes() },
    { name: `${top}/byteorder`, data: Buffer.from('little') },
    ...storages.map((data, i) => ({ name: `${top}/data/${i}`, data })),
    { name: `${top}/version`, data: Buffer.from('3\n') },
  ];
  const out: Uint8Array[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    // Pad the local header's extra field so the data starts 64-byte aligned (torch's "FB" field).
    let extraLen = (ALIGN - ((off + 30 + name.length) % ALIGN)) % ALIGN;
    if (extraLen > 0 && extraLen < 4) extraLen += ALIGN;
    const lh = Buffer.alloc(30 + name.length + extraLen);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6); // names are UTF-8
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(extraLen, 28);
    name.copy(lh, 30);
    if (extraLen) {
      lh.writeUInt16LE(0x4246, 30 + name.length);
      lh.writeUInt16LE(extraLen - 4, 32 + name.length);
      lh.fill(0x5a, 34 + name.length);
    }
    const ch = Buffer.alloc(46 + name.length);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(e.data.length, 20);
    ch.writeUInt32LE(e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(off, 42);
    name.copy(ch, 46);
    central.push(ch);
    out.push(lh, e.data);
    off += lh.length + e.data.length;
    if (off > 0xffffffff) throw new CheckpointError('<torch.save>', 'archives over 4 GiB (zip64) are not written; use safetensors');
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(off, 16);
  if (entries.length > 0xffff || off + cd.length > 0xffffffff)
    throw new CheckpointError('<torch.save>', 'too many tensors for a zip without zip64');
  out.push(cd, end);
  return out;
}

/** Write `value` (see encodeTorchSave) as a torch.save file, atomically (temp file + rename). */
export function writeTorchSave(path: string, value: TorchSaveValue): void {
  let parts: Uint8Array[];
  try {
    parts = encodeTorchSave(value);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(path, e.detail);
    throw e;
  }
  writeFileAtomic(path, parts);
}

/** Write `tensors` as a torch.save state_dict (e.g. BLINK's pytorch_model.bin), atomically. */
export function writeTorchCheckpoint(path: string, tensors: Map<string, HostTensor> | Iterable<readonly [string, HostTensor]>): void {
  let parts: Uint8Array[];
  try {
    parts = encodeTorchCheckpoint(tensors);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(path, e.detail);
    throw e;
  }
  writeFileAtomic(path, parts);
}
