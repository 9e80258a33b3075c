import type { Command } from 'commander';
import { register as registerTokenize } from './tokenize.js';

/** Each command module exports `register(program)`; add one line per command. */
export const registrations: Array<(program: Command) => void> = [registerTokenize];
