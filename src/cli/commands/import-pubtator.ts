import { Option, type Command } from 'commander';
import { importPubtator } from '../../data/import-pubtator.js';

interface Flags {
  train?: string;
  val?: string;
  valid?: string;
  dev?: string;
  test?: string;
  dictionary?: string;
  out?: string;
  types?: string;
  composite?: string;
  silent?: boolean;
}

/** `biofeg import-pubtator`: PubTator corpora + MEDIC/CTD dictionary -> arboEL layout (then run `prepare`). */
export function register(program: Command): void {
  program
    .command('import-pubtator')
    .description('PubTator train/val/test + MEDIC or CTD dictionary -> arboEL layout in --out (documents/, mentions/, import-report.json)')
    .option('--train <file>', 'PubTator training corpus')
    .option('--val <file>', 'PubTator validation corpus (alias --valid, --dev)')
    .addOption(new Option('--valid <file>').hideHelp())
    .addOption(new Option('--dev <file>').hideHelp())
    .option('--test <file>', 'PubTator test corpus')
    .option('--dictionary <file>', 'MEDIC `ID|alt||name|syn` file or CTD diseases TSV (.tsv or .tsv.gz)')
    .option('--out <dir>', 'output folder (arboEL layout)')
    .option('--types <list>', 'comma-separated mention types to keep, e.g. Disease (default: all)')
    .option('--composite <policy>', 'composite ids A|B, A+B: "first" (link to the first known id) or "skip"', 'first')
    .option('--silent', 'print nothing but errors')
    .action(async (f: Flags) => {
      const val = f.val ?? f.valid ?? f.dev;
      for (const [k, v] of [['train', f.train], ['val', val], ['test', f.test], ['dictionary', f.dictionary], ['out', f.out]] as const) {
        if (!v) throw new Error(`import-pubtator: --${k} is required`);
      }
      if (f.composite !== 'first' && f.composite !== 'skip') throw new Error(`--composite expects first or skip, got ${f.composite}`);
      const report = await importPubtator({
        train: f.train!,
        val: val!,
        test: f.test!,
        dictionary: f.dictionary!,
        outDir: f.out!,
        types: f.types ? f.types.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
        composite: f.composite,
      });
      if (!f.silent) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
