// The addon loader's choice (src/native.ts planAddon / loadAddonFrom): which file is tried for each
// platform, Node-API version and package layout, and the message when none loads. Pure logic with
// stand-in file systems and loaders, so every platform is covered on this one machine.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  AddonUnavailableError,
  addonLocation,
  loadAddonFrom,
  packageRoot,
  packageVersion,
  planAddon,
  type AddonEnvironment,
} from '../src/native.js';
import { BiofegError } from '../src/errors.js';

const ROOT = '/pkg/node_modules/biofeg';
const BUILT = join(ROOT, 'build/Release/biofeg.node');
const PREBUILT = join(ROOT, 'prebuilds/linux-x64/biofeg.node');

function env(files: string[], o: Partial<AddonEnvironment> = {}): AddonEnvironment {
  const have = new Set(files);
  return { platform: 'linux', arch: 'x64', napi: '9', nodeVersion: '20.20.2', packageRoot: ROOT, exists: (p) => have.has(p), ...o };
}
const loadOk = (p: string) => ({ from: p });
const loadFails =
  (bad: string[], err = 'invalid ELF header') =>
  (p: string) => {
    if (bad.includes(p)) throw new Error(`${p}: ${err}\nmore detail`);
    return { from: p };
  };
function unavailable(f: () => unknown): AddonUnavailableError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AddonUnavailableError);
    expect(e).toBeInstanceOf(BiofegError);
    return e as AddonUnavailableError;
  }
  throw new Error('expected AddonUnavailableError');
}

describe('planAddon', () => {
  it('prefers a source build, then the prebuilt', () => {
    expect(planAddon(env([BUILT, PREBUILT])).candidates.map((c) => c.source)).toEqual(['source-build', 'prebuilt']);
    expect(planAddon(env([PREBUILT])).candidates).toEqual([{ source: 'prebuilt', path: PREBUILT }]);
    expect(planAddon(env([BUILT])).candidates).toEqual([{ source: 'source-build', path: BUILT }]);
  });

  it('BIOFEG_ADDON wins and is the only candidate', () => {
    const p = planAddon(env(['/x/biofeg.node', BUILT, PREBUILT], { override: '/x/biofeg.node' }));
    expect(p.candidates).toEqual([{ source: 'env', path: '/x/biofeg.node' }]);
    expect(planAddon(env([BUILT], { override: '/nope.node' })).fatal).toMatch(/BIOFEG_ADDON=\/nope.node does not exist/);
  });

  it('offers no prebuilt for other platforms and arches', () => {
    for (const [platform, arch] of [
      ['darwin', 'arm64'],
      ['linux', 'arm64'],
      ['win32', 'x64'],
    ] as const) {
      const other = join(ROOT, `prebuilds/${platform}-${arch}/biofeg.node`);
      const p = planAddon(env([PREBUILT, other], { platform, arch }));
      expect(p.candidates).toEqual([]);
      expect(p.skipped.find((s) => s.source === 'prebuilt')?.reason).toMatch(
        new RegExp(`no prebuilt addon for ${platform}-${arch}.*linux-x64`),
      );
    }
  });

  it('needs Node-API 8', () => {
    for (const napi of ['7', undefined, 'x']) {
      const p = planAddon(env([BUILT, PREBUILT], { napi }));
      expect(p.candidates).toEqual([]);
      expect(p.fatal).toMatch(/Node-API 8 or newer/);
    }
    expect(planAddon(env([PREBUILT], { napi: 8 })).candidates).toHaveLength(1);
  });
});

describe('loadAddonFrom', () => {
  it('loads the first candidate that loads', () => {
    expect(loadAddonFrom(env([BUILT, PREBUILT]), loadOk).candidate.source).toBe('source-build');
    const r = loadAddonFrom(env([BUILT, PREBUILT]), loadFails([BUILT]));
    expect(r.candidate).toEqual({ source: 'prebuilt', path: PREBUILT });
    expect(r.addon).toEqual({ from: PREBUILT });
  });

  it('a prebuilt that does not load gives a typed error with the source-build advice', () => {
    const e = unavailable(() => loadAddonFrom(env([PREBUILT]), loadFails([PREBUILT], "version `GLIBC_2.99' not found")));
    expect(e.code).toBe('ERR_BIOFEG_ADDON');
    expect(e.attempts.map((a) => a.source)).toEqual(['source-build', 'prebuilt']);
    expect(e.message).toContain('linux-x64 (Node 20.20.2, Node-API 9)');
    expect(e.message).toContain(
      "prebuilds/linux-x64/biofeg.node (prebuilt): failed to load: /pkg/node_modules/biofeg/prebuilds/linux-x64/biofeg.node: version `GLIBC_2.99' not found",
    );
    expect(e.message).not.toContain('more detail');
    expect(e.message).toContain('build/Release/biofeg.node (source-build): not built');
    expect(e.message).toContain('npx biofeg build');
    expect(e.message).toContain('npm rebuild biofeg');
    expect(e.message).not.toContain('build:native');
  });

  it('other platforms are told to build from source', () => {
    const e = unavailable(() => loadAddonFrom(env([], { platform: 'darwin', arch: 'arm64' }), loadOk));
    expect(e.message).toMatch(/no usable biofeg native addon for darwin-arm64/);
    expect(e.message).toMatch(/no prebuilt addon for darwin-arm64/);
    expect(e.message).toContain('npx biofeg build');
  });

  it('a repository checkout is told npm run build:native', () => {
    const e = unavailable(() => loadAddonFrom(env([], { checkout: true }), loadOk));
    expect(e.message).toContain('npm run build:native');
    expect(e.message).toMatch(/prebuilt\): not in this copy of the package/);
  });

  it('too old a Node gives no build advice', () => {
    const e = unavailable(() => loadAddonFrom(env([PREBUILT], { napi: '7', nodeVersion: '16.0.0' }), loadOk));
    expect(e.message).toMatch(/Node 16\.0\.0, Node-API 7\): biofeg needs Node-API 8 or newer: use Node.js 20 or newer$/);
  });

  it('a BIOFEG_ADDON that fails is not silently replaced', () => {
    const e = unavailable(() => loadAddonFrom(env(['/x/a.node', PREBUILT], { override: '/x/a.node' }), loadFails(['/x/a.node'])));
    expect(e.attempts).toEqual([{ source: 'env', path: '/x/a.node', reason: 'failed to load: /x/a.node: invalid ELF header' }]);
    expect(e.message).toMatch(/unset it/);
  });
});

describe('this process', () => {
  it('finds the package folder and its version', () => {
    expect(packageRoot()).toBe(resolve(import.meta.dirname, '..'));
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('loads an addon and says which', () => {
    const c = addonLocation();
    expect(['env', 'source-build', 'prebuilt']).toContain(c.source);
  });

  it('a missing BIOFEG_ADDON is an AddonUnavailableError, not a crash', () => {
    const code = `import('./src/native.ts').then((m) => { try { m.native(); console.log('loaded'); } catch (e) { console.log(e.name, e.code, e.message.split('\\n')[0]); } })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: packageRoot(),
      env: { ...process.env, BIOFEG_ADDON: '/nonexistent/biofeg.node' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^AddonUnavailableError ERR_BIOFEG_ADDON no usable biofeg native addon .*BIOFEG_ADDON=\/nonexistent\/biofeg.node does not exist/,
    );
  });
});
