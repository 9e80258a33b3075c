// `biofeg cache list|clean`: flags -> listEmbeddingCache / cleanEmbeddingCache (the entity
// encodings an evaluation caches in its output folder, one file per model).
import type { Command } from 'commander';

import { cleanEmbeddingCache, listEmbeddingCache } from '../../eval/embedding-cache.js';

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

function parseMb(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`--max_mb: expected a size in MiB >= 0, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  const cache = program
    .command('cache')
    .description('the entity encodings eval-biencoder caches in its output folder (entity_embeddings.<hash>.f32, one per model)');
  cache
    .command('list')
    .description('list the cache files of an output folder, least recently used first')
    .requiredOption('--output_path <dir>', 'the eval-biencoder output folder')
    .action((o: { output_path: string }) => {
      for (const e of listEmbeddingCache(o.output_path))
        process.stdout.write(`${e.path}\t${mib(e.bytes)}\t${new Date(e.usedMs).toISOString()}\n`);
    });
  cache
    .command('clean')
    .description('remove the cache files of an output folder (with --max_mb: the least recently used until the rest fit)')
    .requiredOption('--output_path <dir>', 'the eval-biencoder output folder')
    .option('--max_mb <MiB>', 'keep the most recently used files within this size', parseMb)
    .action((o: { output_path: string; max_mb?: number }) => {
      const r = cleanEmbeddingCache(o.output_path, o.max_mb !== undefined ? { maxBytes: o.max_mb * 2 ** 20 } : {});
      for (const e of r.removed) process.stdout.write(`removed ${e.path} (${mib(e.bytes)})\n`);
      const freed = r.removed.reduce((s, e) => s + e.bytes, 0);
      process.stdout.write(`${r.removed.length} file(s), ${mib(freed)} freed; ${mib(r.keptBytes)} kept\n`);
    });
}
