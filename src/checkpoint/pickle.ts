/**
 * A safe interpreter for the subset of Python's pickle format that a PyTorch state_dict uses.
 *
 * Nothing is executed: GLOBAL / STACK_GLOBAL only name a callable, and only names in the caller's
 * allowlist are accepted; REDUCE and BUILD hand the named callable and its arguments to the caller's
 * hooks, which implement the few functions a checkpoint needs themselves. Every other opcode, every
 * other global, APPEND on a non-list, SETITEM on a non-dict, REDUCE on a non-global, a stack
 * underflow, a dangling memo reference or running off the end of the data is an error that names
 * the opcode and its byte position.
 */

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
export class PyList {
  constructor(readonly items: PyValue[] = []) {}
}
/** A dict (plain or OrderedDict) with insertion order; keys are hashable scalars. */
export class PyDict {
  private readonly map = new Map<string, [PyKey, PyValue]>();
  /** Attributes set by BUILD (OrderedDict state dicts carry `_metadata`). */
  attrs: PyDict | null = null;
  constructor(readonly ordered = false) {}
  set(k: PyKey, v: PyValue): void {
    this.map.set(keyId(k), [k, v]);
  }
  get(k: PyKey): PyValue | undefined {
    return this.map.get(keyId(k))?.[1];
  }
  get size(): number {
    return this.map.size;
  }
  *entries(): IterableIterator<[PyKey, PyValue]> {
    for (const e of this.map.values()) yield e;
  }
}
/** A named module attribute from GLOBAL / STACK_GLOBAL (already checked against the allowlist). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A value made by the caller's hooks (a storage, a tensor, ...). */
export class PyHost<T = unknown> {
  constructor(
    readonly tag: string,
    readonly value: T,
  ) {}
}

export type PyKey = null | boolean | number | bigint | string;
export type PyValue = PyKey | PyTuple | PyList | PyDict | PyGlobal | PyHost;

function keyId(k: PyKey): string {
  // Python hashes 1, 1.0 and True alike; a state_dict only uses str keys, the rest is best effort.
  if (typeof k === 'boolean') return `n:${k ? 1 : 0}`;
  if (typeof k === 'number' || typeof k === 'bigint') return `n:${String(k)}`;
  if (k === null) return 'None';
  return `s:${k}`;
}

export function isPyKey(v: PyValue): v is PyKey {
  return v === null || typeof v !== 'object';
}

export function describePy(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyList) return `list of ${v.items.length}`;
  if (v instanceof PyDict) return `dict of ${v.size}`;
  if (v instanceof PyGlobal) return `global ${v.path}`;
  if (v instanceof PyHost) return v.tag;
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`;
}

export class PickleError extends Error {
  constructor(
    readonly position: number,
    detail: string,
  ) {
    super(`pickle byte ${position}: ${detail}`);
  }
}

export interface PickleHooks {
  /** Globals that may be named ("module.name"). */
  allowedGlobals: ReadonlySet<string>;
  /** BINPERSID: turn a persistent id into a value. */
  persistentLoad(pid: PyValue): PyValue;
  /** REDUCE on an allowed global. */
  reduce(fn: PyGlobal, args: readonly PyValue[]): PyValue;
  /** BUILD: apply `state` to `obj`, returning the object to leave on the stack. */
  build?(obj: PyValue, state: PyValue): PyValue;
}

/** Opcode names for error messages (the whole pickle alphabet, protocols 0-5). */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4c: 'LONG',
  0x4d: 'BININT2',
  0x4e: 'NONE',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x58: 'BINUNICODE',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x64: 'DICT',
  0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x68: 'BINGET',
  0x69: 'INST',
  0x6a: 'LONG_BINGET',
  0x6c: 'LIST',
  0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x73: 'SETITEM',
  0x74: 'TUPLE',
  0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS',
  0x47: 'BINFLOAT',
  0x80: 'PROTO',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE',
  0x95: 'FRAME',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

export function opcodeName(op: number): string {
  return OPCODE_NAMES[op] ?? 'unknown';
}

/** Hard caps against hostile inputs (a state_dict is far below them). */
const MAX_DEPTH = 1000;
const MAX_GLOBAL_LINE = 256;

/** Budgets of one unpickle (see ./limits.ts for the defaults the readers pass). */
export interface PickleLimits {
  /** Opcodes executed. */
  maxOps: number;
  /** Items on the stack at once, marks included. */
  maxStack: number;
  /** Memo entries. */
  maxMemo: number;
  /** Values pushed (each memo reference that is fetched counts again). */
  maxNodes: number;
}

/** Generous caps for direct callers; the checkpoint readers pass their own (./limits.ts). */
export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxOps: 20_000_000,
  maxStack: 1_000_000,
  maxMemo: 1_000_000,
  maxNodes: 5_000_000,
});

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/**
 * Unpickle one object starting at `start`; returns it, the position after its STOP (the legacy
 * torch format stores several pickles back to back) and the nodes it built. Every budget of
 * `limits` is checked before the step it bounds; exceeding one is a PickleError naming it.
 */
export function unpickle(
  data: Uint8Array,
  hooks: PickleHooks,
  start = 0,
  limits: Partial<PickleLimits> = {},
): { value: PyValue; end: number; nodes: number } {
  const lim: PickleLimits = { ...DEFAULT_PICKLE_LIMITS, ...limits };
  let ops = 0;
  let nodes = 0;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  let marks = 0;
  let pos = start;
  let opPos = start;
  let op = 0;

  const fail = (msg: string): never => {
    throw new PickleError(opPos, `${opcodeName(op)}: ${msg}`);
  };
  const need = (n: number): void => {
    if (pos + n > data.length) fail(`needs ${n} bytes but the data ends (truncated?)`);
  };
  const u8 = (): number => {
    need(1);
    return data[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const text = (n: number): string => {
    need(n);
    try {
      const start = pos;
      pos += n;
      return utf8.decode(data.subarray(start, pos));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    // Look no further than a name may reach, so a run of GLOBALs cannot scan the data quadratically.
    const rel = data.subarray(pos, pos + MAX_GLOBAL_LINE + 1).indexOf(0x0a);
    if (rel < 0) fail('missing or over-long name line');
    const s = text(rel);
    pos++;
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(s)) fail(`invalid name ${JSON.stringify(s)}`);
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) return fail('stack underflow');
    if (v === MARK) return fail('unexpected MARK on the stack');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined) return fail('stack underflow');
    if (v === MARK) return fail('unexpected MARK on the stack');
    return v;
  };
  const popMark = (): PyValue[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    marks--;
    return items;
  };
  // Errors from the hooks get the opcode's position too.
  const hook = (f: () => PyValue): PyValue => {
    try {
      return f();
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(e instanceof Error ? e.message : String(e));
    }
  };
  const push = (v: PyValue): void => {
    if (stack.length >= lim.maxStack) fail(`more than ${lim.maxStack} items on the stack (the limit)`);
    if (++nodes > lim.maxNodes) fail(`more than ${lim.maxNodes} values built (the limit)`);
    stack.push(v);
  };
  const memoSet = (i: number): void => {
    if (!memo.has(i) && memo.size >= lim.maxMemo) fail(`more than ${lim.maxMemo} memo entries (the limit)`);
    memo.set(i, top());
  };
  const global = (module: string, name: string): PyGlobal => {
    const path = `${module}.${name}`;
    if (!hooks.allowedGlobals.has(path)) fail(`global ${path} is not allowed (a state_dict needs only torch tensor and storage types)`);
    return new PyGlobal(module, name);
  };
  const memoGet = (i: number): PyValue => {
    const v = memo.get(i);
    if (v === undefined) fail(`memo slot ${i} was never set`);
    return v as PyValue;
  };
  const setItems = (dict: PyValue, items: PyValue[]): void => {
    if (!(dict instanceof PyDict)) fail(`target is a ${describePy(dict)}, not a dict`);
    if (items.length % 2) fail('odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i]!;
      if (!isPyKey(k)) fail(`dict key is a ${describePy(k)}`);
      (dict as PyDict).set(k as PyKey, items[i + 1]!);
    }
  };
  const append = (list: PyValue, items: PyValue[]): void => {
    if (!(list instanceof PyList)) fail(`target is a ${describePy(list)}, not a list`);
    // One at a time: spreading hundreds of thousands of arguments overflows the JS stack.
    const dst = (list as PyList).items;
    for (const v of items) dst.push(v);
  };

  for (;;) {
    opPos = pos;
    if (pos >= data.length) {
      op = 0x2e;
      fail('data ends before STOP (truncated?)');
    }
    op = data[pos++]!;
    if (++ops > lim.maxOps) fail(`more than ${lim.maxOps} opcodes (the limit; a state_dict needs far fewer)`);
    switch (op) {
      case 0x80: {
        // PROTO
        const v = u8();
        if (v > 5) fail(`protocol ${v} is unknown`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        need(8);
        pos += 8;
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        if (stack.length) fail(`${stack.length} items left on the stack`);
        return { value: v, end: pos, nodes };
      }
      case 0x28: // MARK
        if (++marks > MAX_DEPTH) fail(`more than ${MAX_DEPTH} nested MARKs`);
        if (stack.length >= lim.maxStack) fail(`more than ${lim.maxStack} items on the stack (the limit)`);
        stack.push(MARK);
        break;
      case 0x7d:
        push(new PyDict());
        break; // EMPTY_DICT
      case 0x5d:
        push(new PyList());
        break; // EMPTY_LIST
      case 0x29:
        push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      case 0x58:
        push(text(u32()));
        break; // BINUNICODE
      case 0x8c:
        push(text(u8()));
        break; // SHORT_BINUNICODE
      case 0x4a: {
        // BININT
        need(4);
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(u16());
        break; // BININT2
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + i]!);
        if (n > 0 && data[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian f64)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x74:
        push(new PyTuple(popMark()));
        break; // TUPLE
      case 0x85:
        push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x71:
        memoSet(u8());
        break; // BINPUT
      case 0x72:
        memoSet(u32());
        break; // LONG_BINPUT
      case 0x94:
        memoSet(memo.size);
        break; // MEMOIZE
      case 0x68:
        push(memoGet(u8()));
        break; // BINGET
      case 0x6a:
        push(memoGet(u32()));
        break; // LONG_BINGET
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('module and name must be strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        push(hook(() => hooks.persistentLoad(pid)));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail(`callable is a ${describePy(fn)}, not an allowed global`);
        if (!(args instanceof PyTuple)) fail(`arguments are a ${describePy(args)}, not a tuple`);
        push(hook(() => hooks.reduce(fn as PyGlobal, (args as PyTuple).items)));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = pop();
        if (!hooks.build) fail('BUILD is not allowed here');
        push(hook(() => hooks.build!(obj, state)));
        break;
      }
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, '0')} is not supported (only the opcodes a state_dict needs are)`);
    }
  }
}
