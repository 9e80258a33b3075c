// The prepare and importPubtator stages: the original data_process.py (arboEL layout ->
// processed/*.jsonl), optionally with token caches, and PubTator corpora -> arboEL layout.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { count, detail, type TaskContext } from '../api/events.js';
import { SPLITS } from '../data/arboel.js';
import { ensureTokenCache } from '../data/cache-build.js';
import { importPubtator, type ImportReport } from '../data/import-pubtator.js';
import { prepare, type PrepareReport } from '../data/prepare.js';
import type { TokenizerFactory } from '../data/tokenizer-factory.js';
import { InputError, SettingsError } from '../errors.js';
import { moduleFile } from '../paths.js';
import { fieldLabel, resolveSettings } from '../settings/resolve.js';
import type { ImportPubtatorSettings, PrepareSettings } from '../settings/types.js';
import { fromVocab, loadTokenizer } from '../tokenize/load.js';

export interface CacheSummary {
  rows: number;
  rebuilt: boolean;
  reason?: string;
  overflows: number;
}

export interface PrepareResult extends PrepareReport {
  outDir: string;
  /** Token caches built (with vocab or tokenizer), by split name and `entities`. */
  caches: Record<string, CacheSummary>;
}

export async function runPrepare(input: PrepareSettings, ctx: TaskContext): Promise<PrepareResult> {
  const s = resolveSettings('prepare', input);
  for (const k of ['documents', 'mentions'])
    if (!existsSync(join(s.dataDir, k)))
      throw new SettingsError(
        'dataDir',
        `prepare: ${fieldLabel('dataDir')} ${s.dataDir}: expected the arboEL layout (documents/ and mentions/), no ${k}/`,
      );
  if (s.vocab !== undefined && s.tokenizer !== undefined)
    throw new SettingsError('tokenizer', 'prepare: give vocab or tokenizer, not both');
  const outDir = s.outDir ?? join(s.dataDir, 'processed');
  const report = await prepare({
    dataDir: s.dataDir,
    outDir,
    skipInvalid: s.skipInvalid,
    onProgress: (split, n) => count(ctx, `prepare ${split}`, n, 0, 'mention'),
  });
  const caches: Record<string, CacheSummary> = {};
  if (s.vocab !== undefined || s.tokenizer !== undefined) {
    const factory: TokenizerFactory =
      s.vocab !== undefined
        ? { module: moduleFile('tokenize/index'), export: 'fromVocab', args: [s.vocab, { lowercase: !s.cased }] }
        : { module: moduleFile('tokenize/index'), export: 'loadTokenizer', args: [s.tokenizer] };
    const tok = s.vocab !== undefined ? fromVocab(s.vocab, { lowercase: !s.cased }) : loadTokenizer(s.tokenizer!);
    const jobs = [
      ...SPLITS.map((sp) => ({ kind: 'mentions' as const, name: sp, source: join(outDir, `${sp}.jsonl`) })),
      { kind: 'entities' as const, name: 'entities', source: join(s.dataDir, 'documents', 'all_documents.json') },
    ];
    for (const j of jobs) {
      const len = j.kind === 'mentions' ? s.maxContextLength : s.maxCandLength;
      const r = await ensureTokenCache({
        kind: j.kind,
        source: j.source,
        cachePath: join(outDir, 'cache', `${j.name}.${len}.tokens`),
        tokenizer: tok,
        factory,
        maxContextLength: s.maxContextLength,
        maxCandLength: s.maxCandLength,
        workers: s.workers,
      });
      caches[j.name] = {
        rows: r.cache.rows,
        rebuilt: r.rebuilt,
        ...(r.reason !== null ? { reason: r.reason } : {}),
        overflows: r.cache.header.overflows,
      };
      r.cache.close();
    }
  }
  return { ...report, outDir, caches };
}

export async function runImportPubtator(input: ImportPubtatorSettings, ctx: TaskContext): Promise<ImportReport> {
  const s = resolveSettings('importPubtator', input);
  for (const k of ['train', 'val', 'test', 'dictionary'] as const)
    if (!existsSync(s[k])) throw new SettingsError(k, `importPubtator: ${fieldLabel(k)} ${s[k]}: not found`);
  const report = await importPubtator({
    train: s.train,
    val: s.val,
    test: s.test,
    dictionary: s.dictionary,
    outDir: s.outDir,
    ...(s.types ? { types: s.types } : {}),
    composite: s.composite,
  });
  // Mentions the policies dropped (ids missing, composite skipped, bad offsets), out of those of the kept types.
  for (const [split, c] of Object.entries(report.splits)) {
    const kept = c.mentionsRead - c.typeFiltered,
      dropped = kept - c.mentionsWritten;
    detail(
      ctx,
      `import-pubtator ${split}: ${c.mentionsWritten} of ${kept} mentions written (${dropped} dropped; ${c.typeFiltered} of other types)`,
    );
    if (kept > 0 && dropped / kept > s.maxDropped)
      throw new InputError(
        c.path,
        undefined,
        `${dropped} of ${kept} mentions were dropped (${((100 * dropped) / kept).toFixed(0)}%, more than maxDropped (--max_dropped) ${s.maxDropped}); see ${join(s.outDir, 'import-report.json')} for why`,
      );
  }
  return report;
}
