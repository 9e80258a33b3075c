#!/usr/bin/env node
// `prepack` (npm pack / npm publish): what the package ships that git does not hold.
//   1. tsc -> dist/src (the JS and .d.ts in package.json "files"), and removes dist/src files whose
//      source is gone, so a deleted module is not shipped from an old build.
//   2. the prebuilt addon prebuilds/<platform>-<arch>/biofeg.node: the normal release build (CPU
//      kernels with run-time dispatch; the CUDA backend for archs 80;90 when nvcc is found, cudart
//      static, cuBLAS loaded at run time), stripped. It reuses build/ when that folder is such a
//      build (cmake decides what is out of date, so a current build costs seconds), else builds
//      one in build-prebuilt/.
// `node scripts/prepack.mjs --clean` (postpack) removes prebuilds/ again: it is never committed,
// and a checkout always builds from source.
// Progress goes to stderr, so `npm pack --json` stays parseable.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(root, 'package.json'));
const log = (m) => process.stderr.write(`prepack: ${m}\n`);
const fail = (m) => {
  log(`error: ${m}`);
  process.exit(1);
};
const target = `${process.platform}-${process.arch}`;
const prebuildsDir = join(root, 'prebuilds');
// What a release build is configured with (CMakeLists.txt defaults).
const RELEASE = { BIOFEG_CUDA: ['AUTO', 'ON'], BIOFEG_CUDA_ARCHS: ['80;90'], CMAKE_BUILD_TYPE: ['Release'] };

function run(cmd, args, what, env = process.env) {
  const show = (a) =>
    a.startsWith(root) ? relative(root, a) || '.' : a.includes('node_modules') ? a.slice(a.lastIndexOf('node_modules')) : a;
  log(`${what}: ${[cmd === process.execPath ? 'node' : cmd, ...args.map(show)].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 2, 2], env });
  return r.status === 0;
}

if (process.argv.includes('--clean')) {
  rmSync(prebuildsDir, { recursive: true, force: true });
  log('removed prebuilds/');
  process.exit(0);
}

// ---- 1. TypeScript
if (!run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], 'tsc')) fail('tsc failed');
function prune(dir) {
  let left = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (prune(p) === 0) rmdirSync(p);
      else left++;
      continue;
    }
    const stem = relative(join(root, 'dist'), p).replace(/(\.d\.ts|\.js\.map|\.js)$/, '');
    if (stem !== relative(join(root, 'dist'), p) && !existsSync(join(root, `${stem}.ts`))) {
      log(`removed stale ${relative(root, p)} (no ${stem}.ts)`);
      rmSync(p);
    } else left++;
  }
  return left;
}
prune(join(root, 'dist', 'src'));
if (!existsSync(join(root, 'dist', 'src', 'index.js')))
  fail('dist/src/index.js was not built (the package entry point, from src/index.ts)');

// ---- 2. the prebuilt addon
if (target !== 'linux-x64') fail(`prebuilt addons are made on linux-x64 (package.json "os"/"cpu"); this is ${target}`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const nvcc = spawnSync('nvcc', ['--version']).status === 0;

function readCache(dir) {
  const f = join(dir, 'CMakeCache.txt');
  if (!existsSync(f)) return undefined;
  const out = {};
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /^([A-Za-z_0-9]+):[A-Z]+=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * Whether the build folder is a release build of this checkout, and the BIOFEG_CUDA environment
 * to build it with: the one it was configured with (CMakeLists.txt reconfigures when the
 * variable changes, and packing must not turn someone's build/ into another variant).
 */
function releaseBuild(dir) {
  const c = readCache(dir);
  if (!c) return { why: 'not configured' };
  if (!c.CMAKE_HOME_DIRECTORY || realpathSync(c.CMAKE_HOME_DIRECTORY) !== realpathSync(root))
    return { why: `configured for another source folder (${c.CMAKE_HOME_DIRECTORY})` };
  const used = { ...c, BIOFEG_CUDA: c.BIOFEG_CUDA_USED ?? c.BIOFEG_CUDA };
  for (const [k, ok] of Object.entries(RELEASE))
    if (!ok.includes(used[k] ?? '')) return { why: `${k}=${used[k] ?? '(unset)'}, a release build has ${ok.join(' or ')}` };
  if (!['', 'OFF'].includes(c.BIOFEG_FORCE_NO_X86 ?? '')) return { why: `BIOFEG_FORCE_NO_X86=${c.BIOFEG_FORCE_NO_X86}` };
  for (const k of ['CMAKE_CXX_FLAGS', 'CMAKE_CUDA_FLAGS', 'CMAKE_SHARED_LINKER_FLAGS', 'CMAKE_EXE_LINKER_FLAGS']) {
    if (/-fsanitize|(^|\s)-g(\s|$)|-O0/.test(c[k] ?? '')) return { why: `${k}=${c[k]}` };
  }
  if (nvcc && !c.CMAKE_CUDA_COMPILER) return { why: 'configured without a CUDA compiler, and nvcc is here now' };
  const env = { ...process.env };
  const stamp = join(dir, 'biofeg-env.stamp');
  const seen = existsSync(stamp) ? /^BIOFEG_CUDA=(.*)$/m.exec(readFileSync(stamp, 'utf8'))?.[1] : undefined;
  if (seen === undefined || seen === '<unset>') delete env.BIOFEG_CUDA;
  else env.BIOFEG_CUDA = seen;
  return { why: '', env };
}

/** Loads an addon in a child process: its info(), or the error. */
function probe(file) {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(file)}).info()))`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { error: (r.stderr || `exit ${r.status}`).split('\n').slice(0, 3).join(' ') };
  return { info: JSON.parse(r.stdout) };
}

/** Why a built addon is not what the package should ship ('' when it is). */
function notShippable(file) {
  const p = probe(file);
  if (p.error) return `does not load: ${p.error}`;
  if (/cuemu/.test(p.info.cudaDevice)) return 'is the emulated-CUDA test build';
  if (nvcc && !p.info.cudaCompiled) return 'has no CUDA backend although nvcc is here';
  return '';
}

let built;
for (const dir of ['build', 'build-prebuilt']) {
  const { why, env } = releaseBuild(join(root, dir));
  if (why) {
    log(`${dir}/ is not reused: ${why}`);
    continue;
  }
  // Incremental: cmake rebuilds only what changed since the last build (nothing, right after npm ci).
  if (!run(process.execPath, [cmakeJs, 'build', '--out', dir], `bringing ${dir}/ up to date`, env)) {
    log(`${dir}/ failed to build; not reused`);
    continue;
  }
  const file = join(root, dir, 'Release', 'biofeg.node');
  const bad = notShippable(file);
  if (bad) {
    log(`${dir}/Release/biofeg.node ${bad}; not reused`);
    continue;
  }
  built = file;
  break;
}
if (!built) {
  const dir = join(root, 'build-prebuilt');
  rmSync(dir, { recursive: true, force: true });
  const flags = ['--CDBIOFEG_CUDA=AUTO', '--CDBIOFEG_CUDA_ARCHS=80;90', '--CDCMAKE_BUILD_TYPE=Release', '--CDBIOFEG_FORCE_NO_X86=OFF'];
  if (
    !run(process.execPath, [cmakeJs, 'compile', '--out', dir, ...flags], 'a fresh release build in build-prebuilt/', {
      ...process.env,
      BIOFEG_CUDA: 'AUTO',
    })
  )
    fail('the release build of the addon failed');
  built = join(dir, 'Release', 'biofeg.node');
  const bad = notShippable(built);
  if (bad) fail(`build-prebuilt/Release/biofeg.node ${bad}`);
}

const dest = join(prebuildsDir, target, 'biofeg.node');
mkdirSync(dirname(dest), { recursive: true });
const tmp = `${dest}.tmp`;
if (spawnSync('strip', ['--strip-unneeded', '-o', tmp, built]).status !== 0) {
  log('strip is unavailable or failed; shipping the addon unstripped');
  copyFileSync(built, tmp);
}
renameSync(tmp, dest);
const p = probe(dest);
if (p.error) fail(`${relative(root, dest)} does not load after stripping: ${p.error}`);
log(
  `${relative(root, dest)} <- ${relative(root, built)} (${(statSync(dest).size / 2 ** 20).toFixed(1)} MiB; CUDA backend ${p.info.cudaCompiled ? 'compiled (archs 80;90)' : 'NOT compiled: nvcc was not found'}; CPU kernel ${p.info.cpuKernel})`,
);
if (!p.info.cudaCompiled) log('warning: this package would have no CUDA backend; pack where nvcc is on the PATH for a release');
// What the prebuilt asks of the system's C and C++ runtimes (older systems fall back to a source build).
const syms = spawnSync('objdump', ['-T', dest], { encoding: 'utf8', maxBuffer: 64 << 20 });
if (syms.status === 0) {
  const newest = (tag) =>
    [...new Set(syms.stdout.match(new RegExp(`${tag}_[0-9.]+`, 'g')) ?? [])]
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .pop() ?? '(none)';
  log(`the prebuilt needs ${newest('GLIBC')} and ${newest('GLIBCXX')} (libstdc++)`);
}
