// Issue 16, classes 3, 6 and the file items of 8, each from inputs generated here: regular files
// only (a FIFO is refused instead of blocking, a folder named as such), one text policy for every
// command that reads text (streamed, bounded lines, BOM accepted, invalid UTF-8 an error naming
// path:line found in one pass), bounded dictionaries, and leftover temporaries of killed runs.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpointFile, readSafetensors, readTorchCheckpoint, writeFileAtomic } from '../../src/checkpoint/index.js';
import { loadHfFolder } from '../../src/checkpoint/hf-folder.js';
import { tokenizeJsonl } from '../../src/cli/commands/tokenize.js';
import { readEncodeInput } from '../../src/encode/input.js';
import { readNpyF32, writeNpyF32 } from '../../src/encode/npy.js';
import { AtomicOutputs, removeStaleTemps } from '../../src/data/atomic.js';
import { DICTIONARY_LIMITS, loadDictionary } from '../../src/data/dictionary.js';
import { DataError } from '../../src/data/errors.js';
import { LineSplitter, readJsonl, readLines, readLinesSync, type Line } from '../../src/data/lines.js';
import { readPubtator } from '../../src/data/pubtator.js';
import { invalidUtf8At } from '../../src/data/utf8.js';
import { BiofegError } from '../../src/errors.js';
import { HfWordPieceTokenizer, buildBertTokenizerJson, fromVocab, loadTokenizer } from '../../src/tokenize/index.js';
import { validMedic, validSafetensors } from '../fuzz/gen.js';

const tmp = mkdtempSync(join(tmpdir(), 'biofeg-hard-text-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function file(content: string | Uint8Array, name = `f${n++}`): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  '[unused0]',
  '[unused1]',
  '[unused2]',
  'breast',
  'cancer',
  'is',
  'common',
  '.',
  'a',
  '##b',
  'word',
  ',',
];
const vocabPath = file(VOCAB.join('\n') + '\n', 'vocab.txt');
const tok = fromVocab(vocabPath);

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function typedError(f: () => unknown): Promise<Error> {
  const t0 = performance.now();
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(BiofegError);
    expect(performance.now() - t0).toBeLessThan(10_000);
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('regular files only: a FIFO is refused at once, a folder by name', () => {
  const fifo = join(tmp, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const dir = join(tmp, 'a-folder');
  mkdirSync(dir);

  const readers: Array<[string, (p: string) => unknown]> = [
    ['readSafetensors', (p) => readSafetensors(p)],
    ['readTorchCheckpoint', (p) => readTorchCheckpoint(p)],
    ['readCheckpointFile', (p) => readCheckpointFile(p)],
    ['readLines', (p) => drain(readLines(p))],
    ['readJsonl', (p) => drain(readJsonl(p))],
    ['readPubtator', (p) => drain(readPubtator(p))],
    ['loadDictionary', (p) => loadDictionary(p)],
    ['readEncodeInput', (p) => readEncodeInput(p, { maxLength: 8, vocabSize: 10, tokenizer: () => tok })],
    ['tokenizeJsonl', (p) => tokenizeJsonl(p, tok)],
    ['fromVocab', (p) => fromVocab(p)],
    ['readNpyF32', (p) => readNpyF32(p)],
  ];
  for (const [name, read] of readers) {
    it(`${name}`, async () => {
      const e = await typedError(() => read(fifo));
      expect(e.message).toContain(fifo);
      expect(e.message).toMatch(/is a FIFO \(named pipe\); only regular files are read/);
      const d = await typedError(() => read(dir));
      expect(d.message).toContain(dir);
      expect(d.message).toMatch(/is a folder, expected a file/);
      const missing = await typedError(() => read(join(tmp, 'nope')));
      expect(missing.message).toMatch(/nope: cannot open: no such file \(ENOENT\)/);
    });
  }

  it('a model folder whose config.json or tokenizer.json is a FIFO', async () => {
    const m = join(tmp, 'model');
    mkdirSync(m);
    execFileSync('mkfifo', [join(m, 'config.json')]);
    writeFileSync(join(m, 'model.safetensors'), validSafetensors());
    expect((await typedError(() => loadHfFolder(m))).message).toMatch(/config\.json: is a FIFO/);
    execFileSync('mkfifo', [join(m, 'tokenizer.json')]);
    expect((await typedError(() => loadTokenizer(m))).message).toMatch(/tokenizer\.json: is a FIFO/);
  });
});

describe('invalid UTF-8: found in one pass, reported as path:line and byte', () => {
  it('the scanner agrees with the WHATWG decoder on random bytes', () => {
    const dec = new TextDecoder('utf-8', { fatal: true });
    const ok = (b: Uint8Array) => {
      try {
        dec.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new TextEncoder().encode(s)),
      fc
        .tuple(fc.string({ unit: 'binary', maxLength: 10 }), fc.uint8Array({ maxLength: 4 }), fc.string({ maxLength: 10 }))
        .map(([a, b, c]) => Buffer.concat([Buffer.from(a), b, Buffer.from(c)])),
    );
    fc.assert(
      fc.property(bytesArb, (b) => {
        const at = invalidUtf8At(b);
        if (at < 0) return ok(b);
        return ok(b.subarray(0, at)) && !ok(b.subarray(0, Math.min(b.length, at + 4)));
      }),
      { seed: 16, numRuns: 3000 },
    );
  });

  it('a bad byte at the end of a 1 MB line costs one pass, not a decode of every prefix', async () => {
    const line = Buffer.concat([Buffer.from('{"text": "'), Buffer.alloc(1 << 20, 0x61), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const p = file(Buffer.concat([Buffer.from('{"text": "ok"}\n'), line, Buffer.from('\n')]));
    const t0 = performance.now();
    const e = await typedError(() => drain(readLines(p)));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toBe(`${p}:2: invalid UTF-8 near byte ${10 + (1 << 20) + 1} of the line (expected UTF-8 text)`);
  });

  it('encode and tokenize refuse invalid UTF-8 (they used to accept it silently), naming path:line', async () => {
    const p = file(Buffer.concat([Buffer.from('{"text": "breast"}\n\n{"text": "a'), Buffer.from([0xff]), Buffer.from('"}\n')]));
    expect((await typedError(() => readEncodeInput(p, { maxLength: 8, vocabSize: VOCAB.length, tokenizer: () => tok }))).message).toMatch(
      new RegExp(`${p}:3: invalid UTF-8 near byte 12`),
    );
    expect((await typedError(() => tokenizeJsonl(p, tok))).message).toMatch(new RegExp(`${p}:3: invalid UTF-8`));
    const v = file(Buffer.concat([Buffer.from('[PAD]\n[UNK]\n'), Buffer.from([0xfe]), Buffer.from('\n')]));
    expect((await typedError(() => fromVocab(v))).message).toMatch(new RegExp(`${v}:3: invalid UTF-8`));
  });
});

describe('one text policy for every reader', () => {
  it('a UTF-8 BOM and CRLF are accepted by encode and tokenize as by prepare', () => {
    const p = file(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"text": "breast cancer"}\r\n{"input_ids": [2, 8, 3]}\r\n')]),
    );
    const rows = readEncodeInput(p, { maxLength: 8, vocabSize: VOCAB.length, tokenizer: () => tok });
    expect(rows.map((r) => Array.from(r.ids))).toEqual([
      [2, 8, 9, 3],
      [2, 8, 3],
    ]);
    const q = file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"text": "breast"}\r\n')]));
    expect(tokenizeJsonl(q, tok)).toEqual(['{"input_ids":[2,8,3]}']);
  });

  it('the sync and async readers give the same lines as a plain split, whatever the chunking', async () => {
    const text = fc
      .array(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('\r', '\n', '\r\n', '\ufeff', 'é', '𠀀')), { maxLength: 30 })
      .map((xs) => xs.join(''));
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
        async (t, bom, cuts) => {
          const body = (bom ? '\ufeff' : '') + t;
          const raw = Buffer.from(body);
          // The file's BOM is skipped, then the rest is split.
          const rest = body.startsWith('\ufeff') ? body.slice(1) : body;
          let expected = rest.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
          if (rest.endsWith('\n') || rest === '') expected.pop();
          // The decoder drops one BOM at the start of every line, as it always did.
          expected = expected.map((l) => (l.startsWith('\ufeff') ? l.slice(1) : l));
          const p = file(raw);
          const viaSync = [...readLinesSync(p)].map((l) => l.text);
          const viaAsync = (await drain(readLines(p))).map((l) => l.text);
          const split = new LineSplitter(p);
          const viaChunks: Line[] = [];
          let at = 0;
          for (let i = 0; at < raw.length; i++) {
            const step = cuts[i % cuts.length]!;
            viaChunks.push(...split.push(raw.subarray(at, at + step)));
            at += step;
          }
          viaChunks.push(...split.finish());
          // Offsets point at the line's bytes.
          for (const l of viaChunks)
            expect(
              raw
                .subarray(l.offset, l.offset + l.length)
                .toString()
                .replace(/^\ufeff/, ''),
            ).toBe(l.text);
          return (
            JSON.stringify(viaSync) === JSON.stringify(expected) &&
            JSON.stringify(viaAsync) === JSON.stringify(expected) &&
            JSON.stringify(viaChunks.map((l) => l.text)) === JSON.stringify(expected)
          );
        },
      ),
      { seed: 6, numRuns: 300 },
    );
  });

  it('a line over the limit is an error naming path:line, before it is held whole', async () => {
    const p = file(`{"text": "a"}\n${'x'.repeat(5000)}\n`);
    const e = await typedError(() => drain(readLines(p, { maxLineBytes: 1000 })));
    expect(e.message).toBe(`${p}:2: line longer than 1000 bytes (the limit for one line); expected line-separated records`);
    expect((await typedError(() => [...readLinesSync(p, { maxLineBytes: 1000 })])).message).toContain(`${p}:2: line longer`);
    expect(
      (await typedError(() => readEncodeInput(p, { maxLength: 8, vocabSize: 10, tokenizer: () => tok, limits: { maxLineBytes: 1000 } })))
        .message,
    ).toContain(`${p}:2:`);
  });

  it("a 600 MB file with no line end (sparse, so cheap to make) is refused at the line limit, naming the file, not at V8's longest string", async () => {
    const p = join(tmp, 'sparse-600mb.jsonl');
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 600 * 2 ** 20);
    closeSync(fd);
    const e = await typedError(() => readEncodeInput(p, { maxLength: 8, vocabSize: 10, tokenizer: () => tok }));
    expect(e.message).toBe(`${p}:1: line longer than ${64 * 2 ** 20} bytes (the limit for one line); expected line-separated records`);
    rmSync(p);
  });

  it("many lines adding up past V8's longest string stream through readLinesSync (generated, 2 x 300 MB in pieces)", {
    timeout: 120_000,
  }, () => {
    if (!process.env['BIOFEG_BIG_TESTS']) return; // ~20 s and 600 MB of disk: run with BIOFEG_BIG_TESTS=1
    const p = join(tmp, 'big.jsonl');
    const line = `{"text": "${'a '.repeat(500)}"}\n`;
    const block = Buffer.from(line.repeat(1000));
    const fd = openSync(p, 'w');
    for (let written = 0; written < 600 * 2 ** 20; written += block.length) writeFileSync(fd, block);
    closeSync(fd);
    let lines = 0;
    for (const _ of readLinesSync(p)) lines++;
    expect(lines).toBeGreaterThan(500_000);
    rmSync(p);
  });
});

describe('dictionaries: inflated as a stream under a byte and a line bound', () => {
  it('a .gz that inflates to 64 MB with no newline is refused at the line bound, naming the file', async () => {
    const p = file(gzipSync(Buffer.alloc(64 * 2 ** 20, 0x61), { level: 1 }), 'bomb.tsv.gz');
    expect(readFileSync(p).length).toBeLessThan(1 << 20);
    const t0 = performance.now();
    const e = await typedError(() => loadDictionary(p));
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(e.message).toBe(
      `${p}:1: line longer than ${DICTIONARY_LIMITS.maxLineBytes} bytes (the limit for one line); expected line-separated records`,
    );
  });

  it('a .gz that inflates past the byte bound is refused while inflating', async () => {
    const body = validMedic().repeat(20_000); // ~1.6 MB of valid lines
    const p = file(gzipSync(body), 'big.txt.gz');
    const e = await typedError(() => loadDictionary(p, { maxBytes: 1 << 20 }));
    expect(e.message).toBe(`${p}: more than 1048576 bytes of text, the limit for this file (a decompression bomb?)`);
    // Under the bound it loads (the repeated concepts are counted duplicates).
    const d = await loadDictionary(p);
    expect(d.concepts.length).toBe(3);
    expect(DICTIONARY_LIMITS.maxBytes).toBe(256 * 2 ** 20);
  });

  it('corrupt gzip and invalid UTF-8 inside the gzip name the file (and the line)', async () => {
    const good = gzipSync(validMedic());
    const bad = Buffer.from(good);
    bad[bad.length - 10]! ^= 0xff;
    expect((await typedError(() => loadDictionary(file(bad, 'bad.gz')))).message).toMatch(/bad\.gz: corrupt gzip data/);
    const p = file(gzipSync(Buffer.concat([Buffer.from(validMedic()), Buffer.from([0xff, 0x0a])])), 'utf.gz');
    expect((await typedError(() => loadDictionary(p))).message).toBe(`${p}:4: invalid UTF-8 near byte 1 of the line (expected UTF-8 text)`);
  });
});

describe('messages name the path', () => {
  it('a tokenizer.json without a "decoder" or a "model" names the file', async () => {
    const m = join(tmp, 'tok-model');
    mkdirSync(m);
    const vocab = Object.fromEntries(VOCAB.map((t, i) => [t, i]));
    const json = buildBertTokenizerJson(vocab, { lowercase: true, stripAccents: null, tokenizeChineseChars: true }) as unknown as Record<
      string,
      unknown
    >;
    delete json['decoder'];
    writeFileSync(join(m, 'tokenizer.json'), JSON.stringify(json));
    const e = await typedError(() => loadTokenizer(m));
    expect(e.message).toMatch(/tok-model\/tokenizer\.json: not a usable WordPiece tokenizer: .*decoder/);
    writeFileSync(join(m, 'tokenizer.json'), '{"normalizer": null}');
    expect((await typedError(() => loadTokenizer(m))).message).toMatch(
      /tokenizer\.json: not a usable WordPiece tokenizer: expected a "model" object/,
    );
    expect((await typedError(() => new HfWordPieceTokenizer(null as never, 'x.json'))).message).toMatch(/^x\.json: /);
  });

  it('an .npy output under a folder that does not exist is an error, not a new folder tree', async () => {
    const p = join(tmp, 'no-such-dir', 'deeper', 'x.npy');
    const e = await typedError(() => writeNpyF32(p, new Float32Array(2), [1, 2]));
    expect(e.message).toBe(`${p}: cannot write: the folder ${join(tmp, 'no-such-dir', 'deeper')} does not exist`);
    expect(existsSync(join(tmp, 'no-such-dir'))).toBe(false);
  });

  it('a broken .npy names the file', async () => {
    const p = file(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0xff, 0xff]));
    expect((await typedError(() => readNpyF32(p))).message).toBe(`${p}: header of 65535 bytes runs past the end of the file (truncated?)`);
  });
});

describe('temporaries of killed runs are removed when the same output is written again', () => {
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', '0']);
    return r.pid!;
  }

  it('.<name>.tmp-<pid>-<n> files of a dead writer go, those of a live one stay', () => {
    const d = join(tmp, 'outs');
    mkdirSync(d);
    const dead = deadPid();
    const stale = [
      `.train.jsonl.tmp-${dead}-0`,
      `.train.jsonl.tmp-${dead}-1-7`,
      `.model.tmp-${dead}-1700000000-3`,
      `.model.old-${dead}-1700000000-4`,
    ];
    for (const s of stale) writeFileSync(join(d, s), 'x'.repeat(1000));
    mkdirSync(join(d, `.model.tmp-${dead}-1-2-3`));
    const live = `.train.jsonl.tmp-${process.ppid}-0`;
    writeFileSync(join(d, live), 'another run at work');
    const other = '.train.jsonl.tmp-notapid';
    writeFileSync(join(d, other), 'not ours');
    writeFileAtomic(join(d, 'train.jsonl'), 'new\n');
    expect(readdirSync(d).sort()).toEqual(
      [`.model.old-${dead}-1700000000-4`, `.model.tmp-${dead}-1-2-3`, `.model.tmp-${dead}-1700000000-3`, other, live, 'train.jsonl'].sort(),
    );
    expect(removeStaleTemps(join(d, 'model')).length).toBe(3);
    expect(existsSync(join(d, live))).toBe(true);
    // AtomicOutputs (prepare, import-pubtator, token caches, tokenize --output) does the same.
    writeFileSync(join(d, `.x.jsonl.tmp-${dead}-5`), '');
    const out = new AtomicOutputs();
    out.open(join(d, 'x.jsonl')).write('x');
    out.commit();
    expect(readdirSync(d).filter((f) => f.startsWith('.x.jsonl'))).toEqual([]);
  });
});
