// openCrossEncoder's settings checks (reached from the stages and Linker.load): typed
// SettingsErrors naming the field, before any model is built.
import { describe, expect, it } from 'vitest';

import { SettingsError } from '../../src/errors.js';
import { openCrossEncoder } from '../../src/train/cross-checkpoint.js';

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    return (e as SettingsError).field;
  }
  return undefined;
}

describe('openCrossEncoder settings', () => {
  it('a built-in size without a vocabulary, no model at all, a missing checkpoint: SettingsError', () => {
    expect(fieldOf(() => openCrossEncoder({ device: 'cpu', bertModel: 'tiny' }))).toBe('vocab');
    expect(fieldOf(() => openCrossEncoder({ device: 'cpu' }))).toBe('bertModel');
    expect(fieldOf(() => openCrossEncoder({ device: 'cpu', pathToModel: '/nonexistent/biofeg-cross' }))).toBe('pathToModel');
  });
});
