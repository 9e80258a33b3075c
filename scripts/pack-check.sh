#!/usr/bin/env bash
# The package as users install it (CI step; also `npm run pack:check`):
#  1. npm pack (prepack: tsc + the prebuilt addon), then check the tarball's contents;
#  2. a fresh project installs the tarball with --ignore-scripts (no compiler, no download), type-checks
#     test/package/consumer.ts against the shipped types (strict, NodeNext) and runs it;
#  3. another fresh project installs it WITH scripts and BIOFEG_FORCE_SOURCE_BUILD=1 (the source-build
#     path, CPU-only to keep it short) and checks the addon it built loads.
# Registry packages come from npm's cache (--prefer-offline): the versions the repository already uses.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/biofeg-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
step() { echo "-- pack-check: $* ($(( $(date +%s) - t0 )) s)"; }
npmi() { npm install --no-audit --no-fund --prefer-offline --loglevel=error "$@"; }
tsver=$(node -p "require('$root/node_modules/typescript/package.json').version")
nodetypes=$(node -p "require('$root/node_modules/@types/node/package.json').version")

step "npm pack into $work (prepack builds dist/ and prebuilds/linux-x64/biofeg.node)"
(cd "$root" && npm pack --pack-destination "$work" --loglevel=warn >/dev/null)
tgz=$(ls "$work"/biofeg-*.tgz)
tar -tzf "$tgz" | sed 's|^package/||' | sort > "$work/files.txt"
echo "   $(basename "$tgz"): $(du -h "$tgz" | cut -f1) packed, $(wc -l < "$work/files.txt") files, $(tar -xzOf "$tgz" | wc -c | awk '{printf "%.1f MiB", $1/1048576}') unpacked"
bad=$(grep -E '^(test|tests|bench|\.ci|fixtures|build|build-[^/]*|src|docs|runs)/|^data/default/src/|^native/cuda/emu/|\.map$|\.test\.' "$work/files.txt" || true)
if [ -n "$bad" ]; then echo "pack-check: the tarball holds files it must not:"; echo "$bad" | head -20; exit 1; fi
for f in package.json README.md LICENSE dist/src/index.js dist/src/index.d.ts dist/src/cli/main.js prebuilds/linux-x64/biofeg.node \
  scripts/install.mjs CMakeLists.txt bindings/addon.cpp native/ops.h data/default/vocab.txt data/default/documents/all_documents.json; do
  grep -qxF "$f" "$work/files.txt" || { echo "pack-check: the tarball lacks $f"; exit 1; }
done
echo "   contents ok: no test/, bench/, .ci/, src/, build folders or source maps; entry point, types, prebuilt addon, native sources, built-in data present"

step "consumer A: npm install <tgz> --ignore-scripts (prebuilt addon, no compiler), typescript@$tsver @types/node@$nodetypes"
mkdir "$work/a" && cd "$work/a"
echo '{ "name": "biofeg-consumer", "private": true, "type": "module" }' > package.json
npmi --ignore-scripts "$tgz" "typescript@$tsver" "@types/node@$nodetypes"
test ! -e node_modules/biofeg/build || { echo "pack-check: --ignore-scripts install has a build/ folder"; exit 1; }
cp "$root/test/package/consumer.ts" "$root/test/package/tsconfig.json" .
step "consumer A: tsc (strict, NodeNext, skipLibCheck false) against the shipped .d.ts"
npx tsc -p tsconfig.json
step "consumer A: node consumer.js (train 1 epoch, encode, evaluate)"
timeout 600 node consumer.js
npx biofeg --version
npx biofeg info | node -e "const i=JSON.parse(require('fs').readFileSync(0,'utf8')); if(i.addon.source!=='prebuilt'){console.error('pack-check: consumer A did not load the prebuilt addon:', i.addon); process.exit(1)} console.log('   biofeg info: addon', i.addon.source, i.addon.path.replace(process.cwd()+'/', ''), '| cuda compiled', i.cudaCompiled, '|', i.cpuKernel)"

step "consumer B: npm install <tgz> with scripts, BIOFEG_FORCE_SOURCE_BUILD=1 BIOFEG_CUDA=OFF (the source-build path)"
mkdir "$work/b" && cd "$work/b"
echo '{ "name": "biofeg-source-build", "private": true, "type": "module" }' > package.json
if ! BIOFEG_FORCE_SOURCE_BUILD=1 BIOFEG_CUDA=OFF npmi --foreground-scripts "$tgz" > "$work/b.log" 2>&1; then
  tail -40 "$work/b.log"; echo "pack-check: npm install with the source build failed"; exit 1
fi
grep -E '^biofeg:' "$work/b.log" | sed 's/^/   /'
test -f node_modules/biofeg/build/Release/biofeg.node || { echo "pack-check: the source build left no node_modules/biofeg/build/Release/biofeg.node"; exit 1; }
node --input-type=module -e "
import { info } from 'biofeg';
const i = await info();
console.log('   source-built addon loads:', JSON.stringify(i));
"
npx biofeg info | node -e "const i=JSON.parse(require('fs').readFileSync(0,'utf8')); if(i.addon.source!=='source-build'||i.cudaCompiled){console.error('pack-check: consumer B did not load its CPU-only source build:', i.addon, i.cudaCompiled); process.exit(1)} console.log('   biofeg info: addon', i.addon.source, i.addon.path.replace(process.cwd()+'/', ''))"
step "ok"
