#!/usr/bin/env bash
# Packs what a GPU check needs into .gpu-kit/ (git-ignored), built on this machine: the device
# machines lent to some sessions have nvcc, cmake and Python with PyTorch (so cuBLAS) but no Node
# and no network. The kit holds the CUDA addon (archs 80;90, cudart static), the standalone CUDA
# selftest, a Node binary and node_modules (without the TypeScript compiler and typings). Carry it
# and run scripts/gpu-check.sh there (see that file). Needs nvcc here; takes a few minutes.
# `--emu` packs the cuemu build instead (build-emu/, no nvcc needed), to rehearse the check here:
#   bash scripts/gpu-kit.sh --emu && GPU_CHECK_BENCH_ARGS=--smoke GPU_CHECK_BERT_SIZES=tiny bash scripts/gpu-check.sh
# (--smoke also shrinks gpu-check's schedule step to a tiny BERT on a tiny dataset).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || { echo "gpu-kit: run npm ci first" >&2; exit 1; }
kit=.gpu-kit
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

if [ "${1:-}" = "--emu" ]; then
  build=build-emu
  echo "== cuemu addon and selftest in $build/ (a rehearsal kit: no GPU code in it)"
  npm run build:emu > "$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
else
  command -v nvcc > /dev/null || { echo "gpu-kit: nvcc not found: the CUDA addon cannot be built here" >&2; exit 1; }
  build=build-gpu-kit
  echo "== CUDA addon and selftest in $build/"
  BIOFEG_CUDA=ON npx cmake-js compile --out "$build" > "$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
  cmake -S . -B "$build" -DBIOFEG_CUDA_SELFTEST=ON >> "$build.log" 2>&1
  cmake --build "$build" >> "$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
fi
node -e "const i=require('./$build/Release/biofeg.node').info(); if(!i.cudaCompiled){console.error('gpu-kit: the addon has no CUDA backend');process.exit(1)}"

echo "== packing $kit/"
rm -rf "$kit.tmp" && mkdir -p "$kit.tmp"
cp "$build/Release/biofeg.node" "$build/biofeg_cuda_selftest" "$kit.tmp/"
# bert-base-uncased's vocabulary for scripts/schedule-gpu.sh (../shared does not travel).
vocab=../shared/data/vocab/bert-base-uncased-vocab.txt
if [ -f "$vocab" ]; then cp "$vocab" "$kit.tmp/vocab.txt"; else echo "gpu-kit: $vocab absent: the schedule will use the built-in vocabulary"; fi
xz -T0 -6 -c "$(command -v node)" > "$kit.tmp/node.xz"
# Only what the check runs: no CPU peer (onnxruntime-node alone is 288 MiB), linter, compiler or browser driver.
tar -cJf "$kit.tmp/node_modules.tar.xz" --exclude=node_modules/typescript --exclude='node_modules/@types' \
  --exclude=node_modules/.cache --exclude=node_modules/onnxruntime-node --exclude=node_modules/onnxruntime-common \
  --exclude='node_modules/@biomejs' --exclude=node_modules/puppeteer-core --exclude=node_modules/chromium-bidi \
  --exclude=node_modules/devtools-protocol node_modules
# The kit is built from the working tree: say so when native code differs from the commit.
{ git rev-parse HEAD; git diff --quiet HEAD -- native bindings CMakeLists.txt || echo "plus uncommitted changes to native/, bindings/ or CMakeLists.txt"
  [ "$build" = build-emu ] && echo "REHEARSAL KIT: the cuemu build, not CUDA"; } > "$kit.tmp/commit.txt"
rm -rf "$kit" && mv "$kit.tmp" "$kit"
size=$(du -sm "$kit" | cut -f1)
echo "$kit: ${size} MiB ($(ls "$kit" | tr '\n' ' '))"
# The device tool carries the working tree plus carried paths, 64 MiB in all.
[ "$size" -le 58 ] || { echo "gpu-kit: ${size} MiB leaves too little room under the 64 MiB carry limit" >&2; exit 1; }
