import type { Command } from 'commander';

/** Each command module exports `register(program)`; add one line per command. */
export const registrations: Array<(program: Command) => void> = [];
