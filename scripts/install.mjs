#!/usr/bin/env node
// biofeg's `install` script (npm install / npm ci / npm rebuild) and `biofeg build`.
//
//   node scripts/install.mjs            use the prebuilt addon prebuilds/<platform>-<arch>/biofeg.node
//                                       when it loads here (no compiler needed), else build from
//                                       source with cmake-js into build/ (the loader prefers build/).
//   node scripts/install.mjs --source   always build from source (`biofeg build`); also
//                                       BIOFEG_FORCE_SOURCE_BUILD=1.
//     --cpu                             without the CUDA backend (same as BIOFEG_CUDA=OFF)
//     --cuda-archs <list>               CUDA architectures, e.g. "80;90" (the default) or "86"
//
// In a git checkout of the repository (no prebuilds there) this is the normal development build,
// as before: `cmake-js compile --out build`. Nothing here downloads anything: the Node-API headers
// come from the node-api-headers package (package.json "binary.napi_versions").
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const MIN_NAPI = 8;
const PREBUILT_TARGETS = ['linux-x64'];
const target = `${process.platform}-${process.arch}`;
const log = (m) => process.stderr.write(`biofeg: ${m}\n`);

function parseArgs(argv) {
  const o = { source: process.env.BIOFEG_FORCE_SOURCE_BUILD === '1', asked: false, cpu: false, cudaArchs: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--source') o.source = o.asked = true;
    else if (a === '--cpu') o.cpu = true;
    else if (a === '--cuda-archs') o.cudaArchs = argv[++i];
    else if (a.startsWith('--cuda-archs=')) o.cudaArchs = a.slice('--cuda-archs='.length);
    else {
      log(`install.mjs: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (o.cudaArchs !== undefined && !/^[0-9a-z;-]+$/i.test(o.cudaArchs)) {
    log(`--cuda-archs must look like 80;90, got ${o.cudaArchs}`);
    process.exit(2);
  }
  return o;
}

/** Loads an addon in a child process (a broken file cannot take this one down); its info() or an error line. */
function probe(file) {
  const code = `const i = require(${JSON.stringify(file)}).info(); process.stdout.write(JSON.stringify(i));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.status === 0) {
    try {
      return { info: JSON.parse(r.stdout) };
    } catch {
      return { error: `unexpected output: ${r.stdout.slice(0, 200)}` };
    }
  }
  const err =
    (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).split('\n').find((l) => /Error|error|not found|cannot/.test(l)) ??
    r.stderr.split('\n')[0];
  return { error: err.trim() };
}

const describe = (i) => `CUDA backend ${i.cudaCompiled ? 'compiled' : 'not compiled'}, CPU kernel ${i.cpuKernel}`;

function sourceBuild(o) {
  let cmakeJs;
  try {
    cmakeJs = createRequire(join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
  } catch {
    log('cmake-js (a dependency of biofeg) is not installed; run npm install first');
    process.exit(1);
  }
  const flags = [];
  // `biofeg build` asks for the default variant (CUDA when nvcc is found) unless --cpu, also in a
  // folder configured otherwise before; the environment variable BIOFEG_CUDA, when set, wins.
  if (o.cpu) flags.push('--CDBIOFEG_CUDA=OFF');
  else if (o.asked) flags.push('--CDBIOFEG_CUDA=AUTO');
  if (o.cudaArchs !== undefined) flags.push(`--CDBIOFEG_CUDA_ARCHS=${o.cudaArchs}`);
  // `compile` configures only a fresh build folder; explicit options must reach an existing one,
  // so with options: configure (cmake keeps everything else in build/), then build. Without
  // (npm install / npm ci): `cmake-js compile --out build`, as the repository always did.
  const steps = flags.length > 0 ? [['configure', ...flags], ['build']] : [['compile']];
  log(
    `building the addon from source in ${root}/build (a C++17 compiler and cmake >= 3.18 are needed; nvcc is optional, for the CUDA backend${o.cpu ? ', off here' : ''})`,
  );
  for (const step of steps) {
    const args = [cmakeJs, step[0], '--out', 'build', ...step.slice(1)];
    log(`cmake-js ${args.slice(1).join(' ')}`);
    const r = spawnSync(process.execPath, args, {
      cwd: root,
      stdio: 'inherit',
      env: o.cpu ? { ...process.env, BIOFEG_CUDA: 'OFF' } : process.env,
    });
    if (r.status !== 0) {
      log(
        `the source build failed (cmake-js ${step[0]}: exit ${r.status ?? r.signal}). It needs cmake >= 3.18 and a C++17 compiler on the PATH.`,
      );
      if (!PREBUILT_TARGETS.includes(target))
        log(`there is no prebuilt addon for ${target}; the package ships one for ${PREBUILT_TARGETS.join(', ')}.`);
      process.exit(1);
    }
  }
  const built = join(root, 'build', 'Release', 'biofeg.node');
  const p = probe(built);
  if (p.error !== undefined) {
    log(`the source build did not produce a loadable addon: ${relative(root, built)}: ${p.error}`);
    process.exit(1);
  }
  log(`built ${relative(root, built)} (${describe(p.info)})`);
}

const o = parseArgs(process.argv.slice(2));
const napi = Number.parseInt(process.versions.napi ?? '', 10);
if (!(napi >= MIN_NAPI)) {
  log(
    `this Node.js (${process.version}) has Node-API ${process.versions.napi ?? 'none'}; biofeg needs Node-API ${MIN_NAPI} or newer: use Node.js 20 or newer`,
  );
  process.exit(1);
}

const checkout = existsSync(join(root, '.git'));
const prebuilt = join(root, 'prebuilds', target, 'biofeg.node');
if (o.source || checkout) {
  sourceBuild(o);
} else if (existsSync(prebuilt)) {
  const p = probe(prebuilt);
  if (p.error === undefined) {
    log(`using the prebuilt addon ${relative(root, prebuilt)} (${describe(p.info)}); no compiler needed`);
  } else {
    log(`the prebuilt addon ${relative(root, prebuilt)} does not load here: ${p.error}`);
    log('building from source instead');
    sourceBuild(o);
  }
} else {
  log(
    PREBUILT_TARGETS.includes(target)
      ? `no prebuilt addon in this copy of the package`
      : `no prebuilt addon for ${target} (the package ships one for ${PREBUILT_TARGETS.join(', ')})`,
  );
  sourceBuild(o);
}
