import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

// The CUDA variants of the backend suites also run against cuemu, the CPU emulation of the CUDA
// kernels (`npm run build:emu` builds it into build-emu/; CI always does). This checks the CUDA
// code on machines without a GPU; it is not a GPU result (see native/cuda/emu/). Only tests whose
// name says cuda run there (the rest of those files ran in the main project and show as skipped).
const emuAddon = resolve('build-emu/Release/biofeg.node');
const cudaSuites = [
  'ops',
  'gan-step',
  'bert',
  'bert-bf16',
  'cli-precision',
  'cuda-cli',
  'addon-workers',
  'train/synonym-step',
  'cross/model',
  'cuda-syncs',
].map((f) => `test/${f}.test.ts`);
const emuOnly = ['test/cuemu.test.ts']; // the emulated build's C++ selftests
const haveEmu = existsSync(emuAddon);
if (!haveEmu) console.warn(`cuemu project skipped: ${emuAddon} absent (npm run build:emu builds it)`);

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use both cores themselves; parallel test files would only fight for them.
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...emuOnly] } },
      ...(haveEmu
        ? [
            {
              extends: true as const,
              test: {
                name: 'cuemu',
                include: [...cudaSuites, ...emuOnly],
                // @ts-expect-error ProjectConfig's type omits testNamePattern, which a project honours at run time (only cuda tests run here).
                testNamePattern: /cuda/i,
                env: { BIOFEG_ADDON: emuAddon, BIOFEG_TEST_DEVICE: 'cuda' },
              },
            },
          ]
        : []),
    ],
  },
});
