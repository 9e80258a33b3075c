// `biofeg index`: flags -> buildIndex: a KB (JSONL { id, name, synonyms?, description?, type? } or
// the arboEL all_documents.json) through a bi-encoder's candidate encoder into an entity index folder.
import { Option, type Command } from 'commander';

import { buildIndex } from '../../link/entity-index.js';
import type { BuildIndexSettings } from '../../link/index-build.js';
import { acceptSnakeCase, intAtLeast } from '../options.js';
import { drawProgress, withSignals } from '../run.js';

interface IndexFlags extends BuildIndexSettings {
  silent?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('index')
    .description('encode a KB with a bi-encoder checkpoint into an entity index folder (for Linker and biofeg serve)')
    .requiredOption(
      '--model <dir>',
      "bi-encoder checkpoint folder (biofeg's, or the original's pytorch_model.bin with config.json and vocab.txt)",
    )
    .requiredOption('--kb <file>', 'JSONL lines { id, name, synonyms?, description?, type? }, or an arboEL all_documents.json')
    .requiredOption('--out <dir>', 'index folder (an index there is replaced atomically)')
    .addOption(new Option('--dtype <dtype>', 'vector type: f32, or bf16 (half the size) (default: f32)').choices(['f32', 'bf16']))
    .addOption(new Option('--batch-size <n>', 'entities per forward (default: 64)').argParser(intAtLeast(1, 'batch-size')))
    .addOption(new Option('--device <device>', 'cpu, cuda or auto (default: auto)').choices(['cpu', 'cuda', 'auto']))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(new Option('--precision <p>', 'encoder precision: f32, or bf16 (default: f32)').choices(['f32', 'bf16']))
    .option('--silent', 'no progress output')
    .action(async ({ silent, ...settings }: IndexFlags) => {
      const r = await withSignals((o) => buildIndex(settings, { ...o, onProgress: drawProgress({ silent: silent ?? false }) }));
      if (!silent)
        process.stderr.write(`index: wrote ${r.out} (${r.count} entities x ${r.dim} ${r.dtype}, model ${r.modelHash.slice(0, 16)})\n`);
    });
  acceptSnakeCase(cmd);
}
