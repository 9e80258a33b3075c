// `mpirun -np 2 biofeg pretrain-synonyms … --dist_negatives global` through the CLI: the stage opens
// MPI, rank 0 writes the BERT folder and the run's log, rank 1 only its own log under
// ranks/rank1/, both log the same global losses; a bad --dist_negatives is refused by the settings.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { allConcepts } from '../../data/default/src/concepts.js';
import { cleanup, ROOT, tmp } from '../eval/retrieve-helpers.js';
import { haveMpirun, logEvents, noMpirunReason, stepLosses } from './rank-runs.js';

if (!haveMpirun) console.log(`skipping the mpirun pretrain-synonyms CLI run: ${noMpirunReason}`);
afterAll(() => cleanup());

const cli = [process.execPath, '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];
const work = tmp('biofeg-cli-syn-');
const kb = join(work, 'kb.jsonl');
writeFileSync(
  kb,
  allConcepts()
    .slice(0, 24)
    .map((c) => JSON.stringify({ id: c.id, name: c.name, synonyms: [...c.synonyms, ...c.abbreviations] }))
    .join('\n'),
);
const flags = (out: string, negatives: string) =>
  ['pretrain-synonyms', '--kb', kb, '--bert_model', 'tiny', '--device', 'cpu', '--train_batch_size', '8', '--epoch', '1'].concat([
    '--max_length',
    '16',
    '--dist_negatives',
    negatives,
    '--silent',
    '--output_path',
    out,
  ]);

describe('pretrain-synonyms under mpirun', () => {
  it('refuses an unknown --dist_negatives', () => {
    const r = spawnSync(cli[0]!, [...cli.slice(1), ...flags(join(work, 'bad'), 'everywhere')], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--dist-negatives <which>' argument 'everywhere' is invalid. Allowed choices are local, global/);
  });

  it.skipIf(!haveMpirun)('2 ranks, global negatives: rank 0 writes the BERT folder, rank 1 its own log', () => {
    const out = join(work, 'run');
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', ...cli, ...flags(out, 'global')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BIOFEG_THREADS: '1' },
    });
    expect(r.status, (r.stdout + r.stderr).slice(-4000)).toBe(0);
    for (const f of ['model.safetensors', 'config.json', 'vocab.txt', join('epoch_0', 'model.safetensors'), 'log.jsonl'])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(existsSync(join(out, 'ranks', 'rank1', 'epoch_0'))).toBe(false);
    const rank1 = join(out, 'ranks', 'rank1');
    expect(logEvents(out, 'ranks')).toMatchObject([{ rank: 0, size: 2, negatives: 'global' }]);
    expect(logEvents(rank1, 'ranks')).toMatchObject([{ rank: 1, size: 2, negatives: 'global' }]);
    expect(stepLosses(out).length).toBeGreaterThan(1);
    expect(stepLosses(rank1)).toEqual(stepLosses(out));
  });
});
