import type { Command } from 'commander';

import { info } from '../api/info.js';

/** `biofeg info`: what the engine found (backends, GEMM engine, CPU kernel level and features, threads) and which addon file it loaded. */
export function registerInfo(program: Command): void {
  program
    .command('info')
    .description(
      'print the native engine: CUDA build and device, GEMM engine, CPU kernel and level (BIOFEG_CPU_KERNEL lowers it), CPU features, threads, and the addon file',
    )
    .option('--threads <n>', 'CPU threads (0 = all cores)', (v) => Number.parseInt(v, 10))
    .action((o: { threads?: number }) => {
      process.stdout.write(`${JSON.stringify(info(o.threads !== undefined ? { threads: o.threads } : {}), null, 2)}\n`);
    });
}
