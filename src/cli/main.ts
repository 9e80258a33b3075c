#!/usr/bin/env node
// The `biofeg` command line: each command registers itself from src/cli/commands/.
import { Command } from 'commander';

import { packageVersion } from '../native.js';
import { registerBuild } from './build.js';
import { registrations } from './commands/index.js';
import { registerInfo } from './info.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('biofeg')
    .description('BioFEG biomedical entity linking on a native C++/CUDA engine')
    .version(packageVersion(), '-V, --version', 'print the biofeg version')
    .showHelpAfterError()
    .exitOverride();
  registerInfo(program);
  registerBuild(program);
  for (const register of registrations) register(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (err.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
    process.stderr.write(`biofeg: ${err.message ?? String(e)}\n`);
    process.exit(1);
  }
}

await main();
