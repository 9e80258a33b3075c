// `mpirun -np 2 biofeg train-biencoder … --dist_negatives global` end to end through the CLI: the
// stage opens MPI, rank 0 writes the run folder (checkpoints, log, best model), rank 1 only its
// own log under ranks/rank1/; a bad --dist_negatives is refused by the settings check. The same
// for `mpirun -np 2 biofeg train-gan` (no longer refused under a launcher): both ranks log the
// same global losses and accuracy, rank 0 alone saves.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanup, ROOT, smallDataset, tmp } from '../eval/retrieve-helpers.js';

const haveMpirun = spawnSync('mpirun', ['--version']).status === 0;
if (!haveMpirun) console.log('skipping the mpirun CLI test: mpirun not found (install openmpi-bin)');
const cli = [process.execPath, '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];

let data: { processed: string; entities: string };
beforeAll(async () => {
  const d = await smallDataset({ train: 48, val: 16, test: 4 });
  data = { processed: d.processed, entities: d.entities };
});
afterAll(() => cleanup());

const flags = (out: string, negatives: string) => [
  'train-biencoder',
  '--data_path',
  data.processed,
  '--entity_dict_path',
  data.entities,
  '--bert_model',
  'tiny',
  '--device',
  'cpu',
  '--max_context_length',
  '32',
  '--max_cand_length',
  '32',
  '--train_batch_size',
  '8',
  '--num_train_epochs',
  '1',
  '--dist_negatives',
  negatives,
  '--bucket_cap_mb',
  '0.05',
  '--silent',
  '--output_path',
  out,
];

const events = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('train-biencoder under mpirun', () => {
  it('refuses an unknown --dist_negatives', () => {
    const r = spawnSync(cli[0]!, [...cli.slice(1), ...flags(tmp('biofeg-cli-dn-'), 'everywhere')], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--dist-negatives <which>' argument 'everywhere' is invalid. Allowed choices are local, global/);
  });

  it.skipIf(!haveMpirun)('2 ranks: rank 0 writes the run folder, rank 1 its own log', () => {
    const out = tmp('biofeg-cli-mpi-');
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', ...cli, ...flags(out, 'global')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BIOFEG_THREADS: '1' },
    });
    expect(r.status, (r.stdout + r.stderr).slice(-4000)).toBe(0);
    for (const f of ['model.safetensors', 'config.json', join('epoch_0', 'model.safetensors'), 'log.jsonl'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const lead = events(join(out, 'log.jsonl'));
    const other = events(join(out, 'ranks', 'rank1', 'log.jsonl'));
    expect(lead.find((e) => e['event'] === 'ranks')).toMatchObject({
      rank: 0,
      size: 2,
      negatives: 'global',
      gradients: 'host memory over MPI',
      allreduce: 'BERT gradients in 0.05 MiB buckets during the backward (MPI)',
    });
    // --bucket_cap_mb reached the trainer: the first update sent several buckets per BERT.
    const buckets = lead.find((e) => e['event'] === 'allreduce') as { buckets: number; overlapped: number } | undefined;
    expect(buckets?.buckets).toBeGreaterThan(2);
    expect(buckets?.overlapped).toBeGreaterThan(0);
    expect(other.find((e) => e['event'] === 'ranks')).toMatchObject({ rank: 1, size: 2, negatives: 'global' });
    expect(lead.find((e) => e['event'] === 'epoch')).toMatchObject({ epoch: 0, updates: 6 }); // 48 mentions / global batch 8
    expect(other.some((e) => e['event'] === 'epoch')).toBe(true);
    expect(existsSync(join(out, 'ranks', 'rank1', 'epoch_0'))).toBe(false);
  });
});

describe('train-gan under mpirun', () => {
  it.skipIf(!haveMpirun)('2 ranks: the stage runs data-parallel, rank 0 writes the run folder, rank 1 its own log', () => {
    const out = tmp('biofeg-cli-mpi-gan-');
    const args = ['train-gan', '--data_path', data.processed, '--entity_dict_path', data.entities, '--bert_model', 'tiny'];
    args.push('--device', 'cpu', '--max_context_length', '32', '--max_cand_length', '32', '--train_batch_size', '16');
    args.push(
      '--num_train_epochs',
      '1',
      '--critic_iters',
      '1',
      '--save_every',
      '1',
      '--start_saving',
      '1',
      '--silent',
      '--output_path',
      out,
    );
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', ...cli, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BIOFEG_THREADS: '1' },
    });
    expect(r.status, (r.stdout + r.stderr).slice(-4000)).toBe(0);
    for (const f of ['training_time.txt', 'log.jsonl']) expect(existsSync(join(out, f)), f).toBe(true);
    const lead = events(join(out, 'log.jsonl'));
    const other = events(join(out, 'ranks', 'rank1', 'log.jsonl'));
    expect(lead.find((e) => e['event'] === 'ranks')).toMatchObject({ rank: 0, size: 2, gradients: 'host memory over MPI' });
    expect(other.find((e) => e['event'] === 'ranks')).toMatchObject({ rank: 1, size: 2 });
    const epochs = [lead, other].map((l) => l.find((e) => e['event'] === 'epoch'));
    expect(epochs[0]).toMatchObject({ epoch: 0 });
    // Both ranks log the same global losses and accuracy.
    for (const k of ['disc', 'gen', 'mse', 'accuracy']) expect(epochs[1]![k], k).toBe(epochs[0]![k]);
    const saved = lead.find((e) => e['event'] === 'save');
    expect(saved).toBeDefined();
    expect(existsSync(String(saved!['file']))).toBe(true);
    expect(other.some((e) => e['event'] === 'save')).toBe(false);
  });
});
