import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Command } from 'commander';

import { packageRoot } from '../native.js';

/**
 * `biofeg build`: builds the addon from source in the installed package's folder (build/Release,
 * which the loader prefers over the prebuilt one), with the same script npm runs at install.
 */
export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('build the native addon from source into <package>/build (needs cmake >= 3.18 and a C++17 compiler; nvcc optional)')
    .option('--cpu', 'without the CUDA backend (BIOFEG_CUDA=OFF)')
    .option('--cuda-archs <list>', 'CUDA architectures, e.g. "80;90" (the default) or "86"')
    .action((o: { cpu?: boolean; cudaArchs?: string }) => {
      const root = packageRoot();
      const script = join(root, 'scripts', 'install.mjs');
      if (!existsSync(script)) throw new Error(`${script} is missing: this copy of biofeg cannot build from source`);
      const args = [script, '--source', ...(o.cpu ? ['--cpu'] : []), ...(o.cudaArchs !== undefined ? ['--cuda-archs', o.cudaArchs] : [])];
      const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`the source build failed (exit ${r.status ?? r.signal}); see the messages above`);
    });
}
