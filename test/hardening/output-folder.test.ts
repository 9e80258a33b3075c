// What a run finds in its output folder from an earlier run that was killed: the hidden
// temporaries of its best-epoch copy (`.model.safetensors.tmp-<pid>`, as big as the model), of
// atomic files and of checkpoint folders are removed when the next run takes the folder, if their
// writer is gone; a moved-aside checkpoint whose replacement never arrived is put back. And
// import-pubtator says on the terminal how many mentions each split lost.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { register as registerImport } from '../../src/cli/commands/import-pubtator.js';
import { register as registerTokenize } from '../../src/cli/commands/tokenize.js';
import { nameWriteFailure, sweepStaleTemps, writeFileAtomic } from '../../src/data/atomic.js';
import { DataError } from '../../src/data/errors.js';
import { writeNpyF32 } from '../../src/encode/npy.js';
import { encodeFile } from '../../src/index.js';
import { LOCK_FILE, lockOutput } from '../../src/stages/output-lock.js';
import { cleanup, ROOT, smallDataset, VOCAB } from '../eval/retrieve-helpers.js';
import { runCli } from '../support/cli.js';
import { mulberry32 } from '../support/rng.js';

const root = mkdtempSync(join(tmpdir(), 'biofeg-outdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has exited (reuse within the test is not a concern). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('the next run of an output folder removes what killed runs left there', () => {
  it('stale temporaries of every form go when the lock is taken; live and foreign ones stay', () => {
    const out = join(root, 'run');
    mkdirSync(out);
    const dead = deadPid();
    const rnd = mulberry32(16);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    // Left by a SIGKILL during the best-epoch copy (copyBestToRoot), atomic writes and checkpoint folders.
    const stale = [
      `.model.safetensors.tmp-${dead}`,
      `.pytorch_model.bin.tmp-${dead}`,
      `.eval_report.json.tmp-${dead}-0-3`,
      `.entity_embeddings.0123456789abcdef.f32.tmp-${dead}-0-1`,
    ];
    for (const s of stale) writeFileSync(join(out, s), bytes(4096));
    mkdirSync(join(out, `epoch_2.tmp-${dead}`));
    writeFileSync(join(out, `epoch_2.tmp-${dead}`, 'model.safetensors'), bytes(100));
    // The previous epoch_1, moved aside by a writer killed before its new one was renamed in.
    mkdirSync(join(out, `epoch_1.old-${dead}`));
    writeFileSync(join(out, `epoch_1.old-${dead}`, 'trainer_state.json'), '{"epoch":2}');
    // A moved-aside folder whose replacement did arrive: the old copy goes.
    mkdirSync(join(out, 'epoch_0'));
    mkdirSync(join(out, `.epoch_0.old-${dead}-1700000000-1`));
    const live = `.model.safetensors.tmp-${process.pid}`;
    writeFileSync(join(out, live), 'this process is writing it');
    const foreign = ['notes.tmp-x', 'model.safetensors', '.hidden'];
    for (const f of foreign) writeFileSync(join(out, f), 'keep');

    const release = lockOutput(out, 'test');
    try {
      expect(readdirSync(out).sort()).toEqual([LOCK_FILE, 'epoch_0', 'epoch_1', live, ...foreign].sort());
      expect(readFileSync(join(out, 'epoch_1', 'trainer_state.json'), 'utf8')).toBe('{"epoch":2}');
    } finally {
      release();
    }
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });

  it('an output folder path that is a file is a SettingsError naming it, not EEXIST from mkdir', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'data');
    expect(() => lockOutput(file, 'trainBiencoder')).toThrow(
      expect.objectContaining({
        code: 'ERR_BIOFEG_SETTINGS',
        field: 'outputPath',
        message: `trainBiencoder: outputPath (--output_path) ${file}: is a file, expected a folder (or a path to create one)`,
      }),
    );
    expect(readFileSync(file, 'utf8')).toBe('data');
  });

  it('sweepStaleTemps reports what it did and leaves a folder without temporaries alone', () => {
    const out = join(root, 'sweep');
    mkdirSync(out);
    const dead = deadPid();
    writeFileSync(join(out, `.config.json.tmp-${dead}`), '{}');
    mkdirSync(join(out, `last.old-${dead}`));
    expect(sweepStaleTemps(out).sort()).toEqual(
      [`removed ${join(out, `.config.json.tmp-${dead}`)}`, `restored ${join(out, 'last')} from last.old-${dead}`].sort(),
    );
    expect(readdirSync(out)).toEqual(['last']);
    expect(sweepStaleTemps(out)).toEqual([]);
    expect(sweepStaleTemps(join(root, 'missing'))).toEqual([]);
  });
});

describe('biofeg import-pubtator prints what each split dropped', () => {
  const P = join(import.meta.dirname, '..', 'fixtures', 'data', 'pubtator');
  const args = (out: string) => [
    '--train',
    join(P, 'train.txt'),
    '--val',
    join(P, 'val.txt'),
    '--test',
    join(P, 'test.txt'),
    '--dictionary',
    join(P, 'medic.txt'),
    '--out',
    out,
  ];
  it('on stderr, each split; above --max_dropped (default 0.2) it fails naming the file', async () => {
    const ok = await runCli(registerImport, 'import-pubtator', [...args(join(root, 'imp-ok')), '--max_dropped', '0.9']);
    expect(ok.stderr).toContain('import-pubtator train: 7 of 9 mentions written (2 dropped; 0 of other types)');
    expect(ok.stderr).toMatch(/import-pubtator val: \d+ of \d+ mentions written/);
    expect(JSON.parse(ok.stdout)).toHaveProperty('splits');
    const quiet = await runCli(registerImport, 'import-pubtator', [...args(join(root, 'imp-q')), '--max_dropped', '0.9', '--silent']);
    expect(quiet).toEqual({ stdout: '', stderr: '' });
    await expect(runCli(registerImport, 'import-pubtator', args(join(root, 'imp-fail')))).rejects.toThrow(
      /train\.txt: 2 of 9 mentions were dropped \(22%, more than maxDropped \(--max_dropped\) 0\.2\)/,
    );
  });
});

describe('an output file path that is a folder is refused before any work, naming it', () => {
  it('writeNpyF32, the atomic writer, tokenize --output and encode', async () => {
    const dir = join(root, 'an-output-folder');
    mkdirSync(dir);
    expect(() => writeNpyF32(dir, new Float32Array(4), [2, 2])).toThrow(
      new RegExp(`^${dir}: cannot write: it is a folder, expected a file name$`),
    );
    expect(() => writeFileAtomic(dir, 'x')).toThrow(DataError);
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const input = join(root, 'in.jsonl');
    writeFileSync(input, '{"text": "breast cancer"}\n');
    await expect(runCli(registerTokenize, 'tokenize', ['--vocab', VOCAB, '--input', input, '--output', dir])).rejects.toThrow(
      /an-output-folder: cannot write: it is a folder, expected a file name/,
    );
    const e = await encodeFile({ model: 'tiny', input, output: dir, device: 'cpu' }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ code: 'ERR_BIOFEG_SETTINGS', field: 'output' });
    expect(String((e as Error).message)).toMatch(/an-output-folder: is a folder, expected a file name/);
  });
});

describe('a write that fails (disk full, file too large) names the file and leaves its line in log.jsonl', () => {
  it('nameWriteFailure: the path and what the code means, once; other errors unchanged', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', errno: -28 });
    const e = nameWriteFailure(enospc, '/out/run');
    expect(e.message).toBe('/out/run: cannot write (ENOSPC: no space left on device, write): the disk is full');
    expect(e).toMatchObject({ code: 'ENOSPC', path: '/out/run' });
    expect(nameWriteFailure(e, '/elsewhere').message).toBe(e.message);
    const plain = new Error('not a system error');
    expect(nameWriteFailure(plain, '/out').message).toBe('not a system error');
  });

  it('train-biencoder under `ulimit -f` (EFBIG at the first checkpoint): exit 1, the file named, a failed event, nothing partial', async () => {
    const data = await smallDataset({ train: 8, val: 4, test: 4 });
    const out = join(root, 'efbig');
    const cmd = [
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'src', 'cli', 'main.ts'),
      'train-biencoder',
      ...['--data_path', data.processed, '--output_path', out, '--entity_dict_path', data.entities, '--bert_model', 'tiny'],
      ...['--num_train_epochs', '1', '--train_batch_size', '4', '--eval_batch_size', '4', '--max_context_length', '32'],
      ...['--max_cand_length', '48', '--no_cuda', '--threads', '1', '--silent'],
    ];
    // 1 MiB per file: the token caches and the log fit, the model's checkpoint does not. SIGXFSZ
    // ignored, so the write fails with EFBIG instead of killing the process.
    const quoted = cmd.map((a) => `'${a}'`).join(' ');
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 1024; exec ${quoted}`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`biofeg: ${out}/\\S+: cannot write \\(EFBIG: file too large, write\\): a file would pass the size limit`),
    );
    const events = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; code?: string; message?: string });
    expect(events.at(-1)).toMatchObject({ event: 'failed', code: 'EFBIG' });
    expect(events.at(-1)!.message).toContain(out);
    expect(readdirSync(out).sort()).toEqual(['log.jsonl']);
    cleanup();
  }, 90_000);
});
