// SIGKILL at random points of every trainer (`biofeg train-biencoder`, `train-gan`, `finetune`), then `--resume`, until a
// run finishes: every checkpoint the killed-and-resumed runs wrote is byte-identical to the one an
// uninterrupted run writes (weights, optimiser moments, trainer state), and no temporary or lock
// of the killed processes is left in the output folder. A kill lands anywhere: during start-up,
// inside a step, during validation or while a checkpoint is being written (a random delay after
// a random progress line). The seed of the kill points is printed with any failure; set
// BIOFEG_KILL_SEED to replay it (the timing itself cannot be replayed exactly).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applyMissingGoldRule, writeCandidateFile } from '../../src/eval/candidates.js';
import { openBiEncoder, saveBiEncoder } from '../../src/train/biencoder-checkpoint.js';
import { generatedFilePath } from '../../src/train/generate-features.js';
import { caches, cleanup, ROOT, smallDataset, tmp, VOCAB } from '../eval/retrieve-helpers.js';
import { mulberry32, randn } from '../support/rng.js';

const SEED = Number(process.env['BIOFEG_KILL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const KILLS = 4;
const VOCAB_SIZE = readFileSync(VOCAB, 'utf8')
  .split('\n')
  .filter((l) => l !== '').length;

let data: Awaited<ReturnType<typeof smallDataset>>;
let biDir: string, genDir: string;

beforeAll(async () => {
  data = await smallDataset({ train: 24, val: 8, test: 4 });
  biDir = tmp('biofeg-kill-bi-');
  const { model, settings } = openBiEncoder({ device: 'cpu', bertModel: 'tiny', vocabSize: VOCAB_SIZE, seed: 3, maxPositions: 160 });
  await saveBiEncoder(biDir, model, { settings, vocabPath: VOCAB, lowercase: true });
  // finetune's training data: a generate-features file of random (non-negative) features.
  const { entities } = await caches(data.processed, data.entities, 'train');
  genDir = tmp('biofeg-kill-gen-');
  const n = 24,
    d = 128;
  const ents = Int32Array.from({ length: n }, (_, i) => 3 + 7 * i);
  const feats = randn(n * d, 9, 0.5).map((v) => Math.max(0, v));
  writeCandidateFile(
    generatedFilePath(genDir, false),
    'generate',
    1,
    'insert',
    applyMissingGoldRule(ents, 1, ents, 'insert', { mentionRows: ents, features: feats, featureDim: d }),
    { featureDim: d, source: { entityCache: entities.path } },
  );
}, 120_000);
afterAll(cleanup);

const cli = (command: string, args: string[]) => [
  '--import',
  'tsx',
  join(ROOT, 'src', 'cli', 'main.ts'),
  command,
  ...args,
  '--no_cuda',
  '--threads',
  '1',
];

/** Runs the CLI; with `killAt`, SIGKILLs it `delayMs` after its `killAt.step`-th progress line (0: after start). */
function runCli(
  argv: string[],
  killAt?: { step: number; delayMs: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; steps: number }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '',
      steps = 0,
      armed = false;
    const arm = () => {
      if (armed || !killAt || steps < killAt.step) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), killAt.delayMs);
    };
    arm();
    child.stderr.on('data', (b: Buffer) => {
      const s = b.toString();
      stderr += s;
      // Progress lines when stderr is not a terminal: "epoch 1: 40% (2/5) ...", one per step.
      steps += (s.match(/^epoch \d+: \d+% \(\d+\/\d+\)/gm) ?? []).length;
      arm();
    });
    child.on('error', rej);
    child.on('exit', (code, signal) => res({ code, signal, stderr, steps }));
  });
}

/** Every regular file under `dir` (relative path -> bytes), without what differs between runs by design. */
function snapshot(dir: string, skip: RegExp): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip.test(rel)) continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(rel, readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Everything a killed writer could leave behind: temporaries, moved-aside folders, its lock. */
function leftovers(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (/\.(tmp|old)-\d+/.test(name) || name === '.biofeg.lock') found.push(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return found;
}

/**
 * The reference run, then runs killed at random points, each resuming what the last left, until
 * KILLS kills have landed; then one run to the end. A run that ends before its kill comes is
 * checked like the last one, and the next kill starts over in an empty folder.
 */
async function killAndResume(command: string, args: (out: string) => string[], totalSteps: number, skip: RegExp): Promise<void> {
  const refOut = join(tmp('biofeg-kill-ref-'), 'out');
  const ref = await runCli(cli(command, args(refOut)));
  expect(ref.code, ref.stderr).toBe(0);
  expect(ref.steps, 'progress lines of the reference run').toBe(totalSteps);
  const want = snapshot(refOut, skip);
  expect(want.size).toBeGreaterThan(3);

  const rnd = mulberry32(SEED);
  const out = join(tmp('biofeg-kill-run-'), 'out');
  const history: string[] = [];
  const why = () => `${history.join('; ')} (BIOFEG_KILL_SEED=${SEED})`;
  const check = (r: { code: number | null; stderr: string }) => {
    expect(r.code, `${why()}\n${r.stderr}`).toBe(0);
    const got = snapshot(out, skip);
    expect([...got.keys()].sort(), why()).toEqual([...want.keys()].sort());
    for (const [name, bytes] of want) expect(got.get(name)!.equals(bytes), `${name} differs; ${why()}`).toBe(true);
    expect(leftovers(out), why()).toEqual([]);
  };
  let kills = 0;
  for (let attempt = 0; kills < KILLS && attempt < 3 * KILLS; attempt++) {
    const at = { step: Math.floor(rnd() * (totalSteps + 1)), delayMs: Math.floor(rnd() * 60) };
    const r = await runCli(cli(command, [...args(out), '--resume']), at);
    history.push(`run ${attempt}: kill after step ${at.step} + ${at.delayMs} ms: ${r.signal ?? `exit ${r.code}`}`);
    if (r.signal === null) {
      check(r);
      rmSync(out, { recursive: true, force: true });
    } else {
      expect(r.signal, why()).toBe('SIGKILL');
      kills++;
    }
  }
  expect(kills, why()).toBe(KILLS);
  check(await runCli(cli(command, [...args(out), '--resume'])));
}

// The flags every trainer below shares: 24 rows in batches of 4 (6 steps an epoch), short windows.
const SHARED = ['--train_batch_size', '4', '--eval_batch_size', '4', '--max_context_length', '32', '--max_cand_length', '48'];

describe('SIGKILL at random points, then --resume: the same result as an uninterrupted run', () => {
  it('train-biencoder', async () => {
    // 24 mentions in batches of 4: 6 steps an epoch, 4 epochs, an epoch_N folder each and the
    // best copied to the output folder.
    await killAndResume(
      'train-biencoder',
      (out) => [
        '--data_path',
        data.processed,
        '--output_path',
        out,
        '--bert_model',
        'tiny',
        '--entity_dict_path',
        data.entities,
        '--learning_rate',
        '1e-3',
        '--num_train_epochs',
        '4',
        ...SHARED,
        '--seed',
        '7',
      ],
      24,
      /^(log\.jsonl|training_time\.txt|cache)$/,
    );
  }, 90_000);

  it('train-gan', async () => {
    // 24 mentions in batches of 4: 6 steps an epoch, 4 epochs, a checkpoint file after each.
    await killAndResume(
      'train-gan',
      (out) => [
        '--data_path',
        data.processed,
        '--output_path',
        out,
        '--path_to_model',
        biDir,
        '--bert_model',
        'tiny',
        '--entity_dict_path',
        data.entities,
        '--num_train_epochs',
        '4',
        '--save_every',
        '1',
        '--start_saving',
        '1',
        '--train_batch_size',
        '4',
        '--eval_batch_size',
        '4',
        '--critic_iters',
        '2',
        '--max_context_length',
        '32',
        '--max_cand_length',
        '48',
        '--seed',
        '11',
      ],
      24,
      /^(log\.jsonl|training_time\.txt)$/,
    );
  }, 90_000);

  it('finetune', async () => {
    // 24 generated features in batches of 4: 6 steps an epoch, 4 epochs, an epoch_N folder each
    // and the best copied to the output folder.
    await killAndResume(
      'finetune',
      (out) => [
        '--data_path',
        data.processed,
        '--generate_data_path',
        genDir,
        '--output_path',
        out,
        '--path_to_model',
        biDir,
        '--bert_model',
        'tiny',
        '--entity_dict_path',
        data.entities,
        '--learning_rate',
        '1e-3',
        '--num_train_epochs',
        '4',
        ...SHARED,
        '--seed',
        '5',
      ],
      24,
      /^(log\.jsonl|training_time\.txt|cache)$/,
    );
  }, 90_000);
});
