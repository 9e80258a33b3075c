// Runs one registered command in-process and captures what it writes to stdout and stderr.
import { Command } from 'commander';
import { vi } from 'vitest';

export async function runCli(register: (p: Command) => void, name: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command().exitOverride();
  register(program);
  let stdout = '',
    stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    stdout += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  try {
    await program.parseAsync(['node', 'biofeg', name, ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return { stdout, stderr };
}
