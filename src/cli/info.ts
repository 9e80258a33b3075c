import os from 'node:os';

import type { Command } from 'commander';

import { engineInfo, setThreads } from '../native.js';

/** `biofeg info`: what the engine found (backends, GEMM engine, threads). */
export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the native engine: CUDA build and device, GEMM engine, CPU kernel, threads')
    .option('--threads <n>', 'CPU threads (0 = all cores)', (v) => Number.parseInt(v, 10))
    .action((o: { threads?: number }) => {
      if (o.threads !== undefined) setThreads(o.threads);
      const info = engineInfo();
      const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
      process.stdout.write(`${JSON.stringify({ ...info, cpu, cores: os.cpus().length }, null, 2)}\n`);
    });
}
