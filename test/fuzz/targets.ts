// The fuzz targets: for every reader, an arbitrary of (mostly mutated) inputs and how to feed one
// to the reader. A case passes when the reader succeeds or throws a typed error (a BiofegError
// subclass, or a module's documented error such as PickleError) within the time budget; any
// other throw, a crash, a hang or running out of memory fails it.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  decodeSafetensors,
  decodeTorchCheckpoint,
  readSafetensors,
  readTorchCheckpoint,
  readTorchSave,
} from '../../src/checkpoint/index.js';
import { MemorySource } from '../../src/checkpoint/bytes.js';
import { loadHfFolder } from '../../src/checkpoint/hf-folder.js';
import { PickleError, unpickle } from '../../src/checkpoint/pickle.js';
import { TORCH_ALLOWED_GLOBALS } from '../../src/checkpoint/torch-zip.js';
import { ZipReader } from '../../src/checkpoint/zip.js';
import { tokenizeJsonl } from '../../src/cli/commands/tokenize.js';
import { loadDictionary } from '../../src/data/dictionary.js';
import { importPubtator } from '../../src/data/import-pubtator.js';
import { readJsonl, readLinesSync } from '../../src/data/lines.js';
import { prepare } from '../../src/data/prepare.js';
import { readPubtator } from '../../src/data/pubtator.js';
import { readEncodeInput } from '../../src/encode/input.js';
import { npyHeader, readNpyF32 } from '../../src/encode/npy.js';
import { BiofegError } from '../../src/errors.js';
import { buildBertTokenizerJson, fromVocab, loadTokenizer } from '../../src/tokenize/index.js';
import {
  deflatedTorchZip,
  gz,
  mutated,
  mutatedPickle,
  mutatedText,
  torchZip,
  validCtd,
  validGan,
  validJsonl,
  validMedic,
  validPubtator,
  validSafetensors,
  validTorchZip,
} from './gen.js';
import { NATIVE_TARGETS } from './native-targets.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIX = join(ROOT, 'test', 'fixtures');

export interface Target<I = Buffer> {
  name: string;
  /** Cases in the fixed-seed run of the normal test suite. */
  runs: number;
  arb: fc.Arbitrary<I>;
  /** Feed one input; `dir` is a fresh folder for files. */
  run(input: I, dir: string): unknown;
  /** A per-case time budget (ms). */
  budgetMs?: number;
  /** Errors the target documents besides BiofegError. */
  documented?: (e: unknown) => boolean;
  /** The input as a failure report prints it (default: a Buffer's first bytes in base64). */
  show?(input: I): string;
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
  'asthma',
  'fever',
  ',',
];
let tokCache: ReturnType<typeof fromVocab> | undefined;
function tok(dir: string): ReturnType<typeof fromVocab> {
  if (!tokCache) {
    const p = join(dir, 'vocab.txt');
    writeFileSync(p, VOCAB.join('\n') + '\n');
    tokCache = fromVocab(p);
  }
  return tokCache;
}

const put = (dir: string, name: string, data: Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

const drain = async (it: AsyncIterable<unknown>): Promise<void> => {
  for await (const _ of it);
};

const dataPkl = (zip: Uint8Array): Buffer => {
  const r = new ZipReader(new MemorySource(zip));
  return Buffer.from(r.read(r.entries.find((e) => e.name.endsWith('data.pkl'))!));
};

const legacyBin = (): Buffer => readFileSync(join(FIX, 'checkpoint', 'hf-torch-legacy', 'pytorch_model.bin'));
const miscBin = (): Buffer => readFileSync(join(FIX, 'checkpoint', 'misc.bin'));
const hfConfig = (): string => readFileSync(join(FIX, 'checkpoint', 'hf-safetensors', 'config.json'), 'utf8');
const tokenizerJson = (): string =>
  JSON.stringify(
    buildBertTokenizerJson(Object.fromEntries(VOCAB.map((t, i) => [t, i])), {
      lowercase: true,
      stripAccents: null,
      tokenizeChineseChars: true,
    }),
  );
const npy = (): Buffer => Buffer.concat([npyHeader([2, 3]), Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer)]);

export const CHECKPOINT_TARGETS: Target[] = [
  {
    name: 'safetensors',
    runs: 300,
    arb: mutated(validSafetensors),
    run: (b, dir) => {
      try {
        decodeSafetensors(b, 'fuzz.safetensors');
      } finally {
        readSafetensors(put(dir, 'm.safetensors', b));
      }
    },
  },
  { name: 'torch-zip', runs: 300, arb: mutated(validTorchZip), run: (b, dir) => readTorchCheckpoint(put(dir, 'm.bin', b)) },
  { name: 'torch-zip-deflated', runs: 200, arb: mutated(deflatedTorchZip), run: (b) => decodeTorchCheckpoint(b, 'deflated.bin') },
  { name: 'torch-misc-views', runs: 200, arb: mutated(miscBin), run: (b) => decodeTorchCheckpoint(b, 'misc.bin') },
  { name: 'torch-legacy', runs: 200, arb: mutated(legacyBin), run: (b, dir) => readTorchCheckpoint(put(dir, 'legacy.bin', b)) },
  { name: 'gan-checkpoint', runs: 300, arb: mutated(validGan), run: (b, dir) => readTorchSave(put(dir, 'epoch_0', b)) },
  {
    name: 'gan-pickle-spliced',
    runs: 300,
    arb: mutatedPickle(dataPkl(validGan())),
    run: (pkl, dir) =>
      readTorchSave(
        put(
          dir,
          'epoch_1',
          torchZip(pkl, [
            ['0', new Uint8Array(16)],
            ['1', new Uint8Array(8)],
          ]),
        ),
      ),
  },
  {
    name: 'unpickle',
    runs: 200,
    arb: mutatedPickle(dataPkl(validTorchZip())),
    run: (pkl) => unpickle(pkl, { allowedGlobals: TORCH_ALLOWED_GLOBALS, persistentLoad: () => null, reduce: () => null }),
    documented: (e) => e instanceof PickleError,
  },
  {
    name: 'zip-reader',
    runs: 200,
    arb: mutated(validTorchZip),
    run: (b) => {
      const r = new ZipReader(new MemorySource(b, 'fuzz.zip'));
      for (const e of r.entries) r.read(e, { bytes: 1 << 24, what: 'an entry' });
    },
  },
  {
    name: 'hf-folder-config',
    runs: 150,
    arb: mutatedText(hfConfig),
    run: (b, dir) => {
      const d = join(dir, 'hf');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'config.json'), b);
      cpSync(join(FIX, 'checkpoint', 'hf-safetensors', 'model.safetensors'), join(d, 'model.safetensors'));
      loadHfFolder(d);
    },
  },
];

export const TEXT_TARGETS: Target[] = [
  {
    name: 'jsonl',
    runs: 200,
    arb: mutatedText(validJsonl),
    run: async (b, dir) => {
      const p = put(dir, 'x.jsonl', b);
      for (const _ of readLinesSync(p, { maxLineBytes: 1 << 16 }));
      await drain(readJsonl(p));
    },
  },
  {
    name: 'encode-input',
    runs: 250,
    arb: mutatedText(validJsonl),
    run: (b, dir) => readEncodeInput(put(dir, 'in.jsonl', b), { maxLength: 16, vocabSize: VOCAB.length, tokenizer: () => tok(dir) }),
  },
  { name: 'tokenize', runs: 200, arb: mutatedText(validJsonl), run: (b, dir) => tokenizeJsonl(put(dir, 't.jsonl', b), tok(dir)) },
  { name: 'pubtator', runs: 250, arb: mutatedText(validPubtator), run: (b, dir) => drain(readPubtator(put(dir, 'p.txt', b))) },
  { name: 'dictionary-medic', runs: 150, arb: mutatedText(validMedic), run: (b, dir) => loadDictionary(put(dir, 'medic.txt', b)) },
  { name: 'dictionary-ctd', runs: 150, arb: mutatedText(validCtd), run: (b, dir) => loadDictionary(put(dir, 'ctd.tsv', b)) },
  {
    name: 'dictionary-gz',
    runs: 150,
    arb: fc.oneof(
      mutatedText(validCtd).map(gz),
      mutated(() => gz(validMedic())),
    ),
    run: (b, dir) => loadDictionary(put(dir, 'd.tsv.gz', b)),
  },
  {
    name: 'tokenizer-json',
    runs: 100,
    arb: mutatedText(tokenizerJson),
    run: (b, dir) => {
      const d = join(dir, 'tok');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'tokenizer.json'), b);
      loadTokenizer(d).encode('breast cancer, asthma');
    },
  },
  {
    name: 'vocab',
    runs: 100,
    arb: mutatedText(() => VOCAB.join('\n')),
    run: (b, dir) => fromVocab(put(dir, 'v.txt', b)).encode('breast cancer'),
  },
  { name: 'npy', runs: 100, arb: mutated(npy), run: (b, dir) => readNpyF32(put(dir, 'x.npy', b)) },
  {
    name: 'prepare',
    runs: 60,
    budgetMs: 8000,
    arb: fc
      .tuple(fc.constantFrom('documents/all_documents.json', 'documents/train.json', 'mentions/train.json', 'mentions/test.json'), fc.nat())
      .chain(([f]) =>
        mutatedText(() => readFileSync(join(FIX, 'data', 'arboel-small', f), 'utf8')).map((b) => Buffer.concat([Buffer.from(`${f}\0`), b])),
      ),
    run: async (b, dir) => {
      const nul = b.indexOf(0);
      const f = b.subarray(0, nul).toString();
      const d = join(dir, 'arboel');
      cpSync(join(FIX, 'data', 'arboel-small'), d, { recursive: true });
      writeFileSync(join(d, f), b.subarray(nul + 1));
      await prepare({ dataDir: d, outDir: join(dir, 'processed') });
    },
  },
  {
    name: 'import-pubtator',
    runs: 60,
    budgetMs: 8000,
    arb: fc
      .tuple(mutatedText(validPubtator), mutatedText(validMedic))
      .map(([p, m]) => Buffer.concat([Buffer.from(String(p.length).padStart(10, '0')), p, m])),
    run: async (b, dir) => {
      const n = Number(b.subarray(0, 10).toString());
      const train = put(dir, 'train.txt', b.subarray(10, 10 + n));
      const other = (a: string, c: string) => validPubtator().replaceAll('100', a).replaceAll('200', c);
      const val = put(dir, 'val.txt', Buffer.from(other('300', '400')));
      const test = put(dir, 'test.txt', Buffer.from(other('500', '600')));
      const dict = put(dir, 'medic.txt', b.subarray(10 + n));
      await importPubtator({ train, val, test, dictionary: dict, outDir: join(dir, 'out') });
    },
  },
];

export const ALL_TARGETS: Target<unknown>[] = [...CHECKPOINT_TARGETS, ...TEXT_TARGETS, ...NATIVE_TARGETS];

/** Whether a thrown value is an acceptable outcome for `t`. */
export function acceptable(t: Target<unknown>, e: unknown): boolean {
  return e instanceof BiofegError || (t.documented?.(e) ?? false);
}
