// The Communicator (src/comm): a single process never loads libmpi; a launcher asking for ranks
// without a usable libmpi gets CommunicatorUnavailableError; under mpirun -np 2 each collective
// gives every rank the documented result. The shard split of a global batch.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { shardOf } from '../../src/comm/data-parallel.js';
import { checkSingleProcessCall, launchInfo } from '../../src/comm/launch.js';
import { SettingsError } from '../../src/errors.js';
import { ROOT } from '../eval/retrieve-helpers.js';

const scenario = join(ROOT, 'test', 'comm', 'comm-scenario.ts');
const haveMpirun = spawnSync('mpirun', ['--version']).status === 0;
if (!haveMpirun) console.log('skipping the mpirun collectives test: mpirun not found (install openmpi-bin)');

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .sort((a, b) => Number(a['rank']) - Number(b['rank']));
}

function runNode(mode: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', scenario, mode], { cwd: ROOT, encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return lines(r.stdout);
}

/** The environment without a launcher's variables (the test itself may run under one). */
function plainEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMI_|PMIX_)/.test(k)));
}

describe('shardOf and launchInfo', () => {
  it('splits every global batch into contiguous shards that cover it once', () => {
    for (const size of [1, 2, 3, 4, 8])
      for (let rows = 0; rows <= 20; rows++) {
        let next = 0;
        for (let r = 0; r < size; r++) {
          const { lo, hi } = shardOf(rows, r, size);
          expect(lo).toBe(next);
          expect(hi - lo).toBeLessThanOrEqual(Math.ceil(rows / size));
          next = hi;
        }
        expect(next).toBe(rows);
      }
    expect(shardOf(8, 1, 2)).toEqual({ lo: 4, hi: 8 });
    expect(shardOf(5, 1, 2)).toEqual({ lo: 3, hi: 5 });
    expect(shardOf(1, 1, 2)).toEqual({ lo: 1, hi: 1 });
  });

  it('reads the launcher from the environment and refuses malformed values', () => {
    expect(launchInfo({})).toEqual({ launcher: 'none', rank: 0, size: 1 });
    expect(launchInfo({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '3' })).toEqual({ launcher: 'open-mpi', rank: 3, size: 4 });
    expect(launchInfo({ PMI_SIZE: '2', PMI_RANK: '1' })).toEqual({ launcher: 'pmi', rank: 1, size: 2 });
    expect(() => launchInfo({ OMPI_COMM_WORLD_SIZE: 'two' })).toThrow(SettingsError);
  });

  it('under a multi-rank launcher only the data-parallel calls are let through', () => {
    const two = { OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '1' };
    expect(() => checkSingleProcessCall('trainBiencoder', two)).not.toThrow();
    expect(() => checkSingleProcessCall('finetune', two)).not.toThrow();
    expect(() => checkSingleProcessCall('trainGan', two)).not.toThrow();
    expect(() => checkSingleProcessCall('trainCrossencoder', two)).not.toThrow();
    expect(() => checkSingleProcessCall('pretrainSynonyms', two)).not.toThrow();
    expect(() => checkSingleProcessCall('evaluateBiencoder', two)).not.toThrow(); // its entity pool in shards
    for (const call of ['evaluateCrossencoder', 'runPipeline'])
      expect(() => checkSingleProcessCall(call, two)).toThrow(new RegExp(`${call} runs on one process, but open-mpi started 2 ranks`));
    expect(() => checkSingleProcessCall('evaluateBiencoder', {})).not.toThrow();
    expect(() => checkSingleProcessCall('evaluateBiencoder', { OMPI_COMM_WORLD_SIZE: '1' })).not.toThrow();
  });
});

describe('Communicator.open', () => {
  it('a single process gets the single communicator and never maps libmpi', () => {
    const [o] = runNode('collectives', plainEnv());
    expect(o).toMatchObject({
      rank: 0,
      size: 1,
      backend: 'single',
      libmpiMapped: false,
      mean: [0, 0, 1],
      gathered: [0, 0.5],
      broadcast: [0, 0],
    });
  });

  it('ranks asked for without a usable libmpi: CommunicatorUnavailableError naming what was tried', () => {
    const [o] = runNode('open', {
      ...plainEnv(),
      OMPI_COMM_WORLD_SIZE: '2',
      OMPI_COMM_WORLD_RANK: '0',
      BIOFEG_MPI: '/nonexistent/libmpi.so.40',
    });
    expect(o!['error']).toMatchObject({ name: 'CommunicatorUnavailableError', code: 'ERR_BIOFEG_DEVICE', library: 'mpi' });
    expect(String((o!['error'] as { message: string }).message)).toMatch(/2 ranks were asked for .*\/nonexistent\/libmpi\.so\.40/s);
  });

  it.skipIf(!haveMpirun)('under mpirun -np 2 every collective gives both ranks the same documented result', () => {
    const r = spawnSync(
      'mpirun',
      ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, '--import', 'tsx', scenario, 'collectives'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: plainEnv(),
      },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const [a, b] = lines(r.stdout);
    for (const [k, o] of [a, b].entries())
      expect(o).toEqual({
        rank: k,
        size: 2,
        backend: 'mpi',
        libmpiMapped: true,
        mean: [0.5, 5, 1],
        tensorMean: [1.5, -0.5],
        tensorSum: [3, 4],
        max: [1, 0],
        gathered: [0, 0.5, 1, 1.5],
        broadcast: [7, 1],
      });
  });

  it.skipIf(!haveMpirun)('a rank that fails alone ends the whole job (MPI_Abort) instead of leaving the others waiting', () => {
    const r = spawnSync(
      'mpirun',
      ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, '--import', 'tsx', scenario, 'abort'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: plainEnv(),
        timeout: 120_000,
      },
    );
    expect(r.error, 'mpirun hung').toBeUndefined();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/biofeg rank 0 of 2: rank 0 failed alone \(the scenario\)/);
    expect(lines(r.stdout)).toEqual([]); // neither rank got past the failure
  });
});
