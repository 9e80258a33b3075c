#!/usr/bin/env node
// Writes src/engine-ops.ts, the TypeScript face of the op list, from BIOFEG_OPS in native/ops.h:
// one engine method per op (its JS name and the TypeScript parameters of its line) and the list
// of names. Run it after changing the op list (`node native/gen-engine-ops.mjs`); with --check it
// only says whether the file is current (test/ops.test.ts runs that).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const header = join(root, 'native', 'ops.h');
const target = join(root, 'src', 'engine-ops.ts');

/** The op list's entries: { name, js, kind, sig, ts }, in order. */
export function parseOps(text) {
  const start = text.indexOf('#define BIOFEG_OPS(X)');
  if (start < 0) throw new Error(`${header}: no #define BIOFEG_OPS(X)`);
  const lines = text.slice(start).split('\n');
  const body = [];
  for (const line of lines) {
    body.push(line.replace(/\\\s*$/, ''));
    if (!/\\\s*$/.test(line)) break;
  }
  const src = body.join(' ').replace(/\/\*.*?\*\//g, ' ').replace('#define BIOFEG_OPS(X)', '');
  const ops = [];
  const re = /X\(\s*(\w+)\s*,\s*"(\w+)"\s*,\s*(\w+)\s*,\s*(void\s*\((?:[^()]|\([^()]*\))*\))\s*,\s*"([^"]*)"\s*\)/g;
  let m;
  while ((m = re.exec(src))) ops.push({ name: m[1], js: m[2], kind: m[3], sig: m[4].replace(/\s+/g, ' '), ts: m[5] });
  const count = (src.match(/\bX\(/g) ?? []).length;
  if (count !== ops.length) throw new Error(`${header}: read ${ops.length} of the ${count} X(...) entries of BIOFEG_OPS`);
  return ops;
}

export function render(ops) {
  const out = [
    '// Generated from the op list in native/ops.h by native/gen-engine-ops.mjs: do not edit.',
    '// The engine methods (src/engine.ts) and their order; each op\'s semantics are in native/ops.h.',
    "import type { AdamWOptions, AttentionOptions, GemmOptions, MsLossOptions, TopkOptions } from './engine.js';",
    "import type { NativeTensor as T } from './native.js';",
    '',
    'type Seed = number | bigint;',
    '',
    '/** The JS names of the ops, in the order of the list. */',
    'export const OP_NAMES = [',
    ...ops.map((o) => `  '${o.js}',`),
    '] as const;',
    'export type OpName = (typeof OP_NAMES)[number];',
    '',
    '/** The ops, as methods of an engine (a backend): every tensor on the engine\'s device. */',
    'export interface EngineOps {',
    ...ops.flatMap((o) => [`  /** ${o.name}: ${o.sig} */`, `  ${o.js}${o.ts}: void;`]),
    '}',
    '',
  ];
  return out.join('\n');
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const want = render(parseOps(readFileSync(header, 'utf8')));
  let have = '';
  try {
    have = readFileSync(target, 'utf8');
  } catch {
    // not written yet
  }
  if (process.argv.includes('--check')) {
    if (have !== want) {
      console.error(`${target} is out of date with native/ops.h: run node native/gen-engine-ops.mjs`);
      process.exit(1);
    }
    console.log(`${target} is current (${parseOps(readFileSync(header, 'utf8')).length} ops)`);
  } else if (have !== want) {
    writeFileSync(target, want);
    console.log(`wrote ${target}`);
  } else {
    console.log(`${target} is current`);
  }
}
