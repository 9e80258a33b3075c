#!/usr/bin/env bash
# The GPU verification in one command, for a session lent a device machine. Prepare here with
# `bash scripts/gpu-kit.sh`, then run there from the repo root with .gpu-kit carried, e.g. the
# device tool's run with command "bash scripts/gpu-check.sh", carry [".gpu-kit"], timeout_s 540.
# Steps: the CUDA selftest (every op against the reference backend, f32 and bf16) with cuBLAS and
# with the hand-written GEMM (BIOFEG_CUBLAS=off); the cuda variants of the vitest suites (ops,
# BERT f32 and bf16 parity, GAN steps, encode and the whole pipeline on cuda); bench:kernels on
# cuda (GEMM at BERT shapes, bf16 4096^3 against the card's dense peak with the 60% bar,
# attention, LayerNorm, top-k); its GEMMs again with the hand-written kernels (BIOFEG_CUBLAS=off);
# bench:bert on cuda in bf16 beside PyTorch. Everything lands in $OUT (8 files; the device tool
# brings back at most 8); copy them into bench/results/<device>/ afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/biofeg-gpu-out}
mkdir -p "$out"
kit=$PWD/.gpu-kit
[ -f "$kit/biofeg.node" ] || { echo "gpu-check: $kit is missing: run scripts/gpu-kit.sh where nvcc is, and carry .gpu-kit" >&2; exit 1; }
if grep -q REHEARSAL "$kit/commit.txt" && nvidia-smi -L > /dev/null 2>&1; then
  echo "gpu-check: $kit is a cuemu rehearsal kit: rebuild it with scripts/gpu-kit.sh (no --emu) before using the GPU" >&2
  exit 1
fi
# xz may be missing on a bare image: Python's lzma and tarfile do the same.
unxz_to() { if command -v xz > /dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }
untar_xz() { if command -v xz > /dev/null; then tar -xJf "$1"; else python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1], "r:xz").extractall()' "$1"; fi; }
bin=/tmp/biofeg-kit-bin
mkdir -p "$bin"
unxz_to "$kit/node.xz" "$bin/node" && chmod +x "$bin/node"
export PATH=$bin:$PATH
[ -d node_modules ] || untar_xz "$kit/node_modules.tar.xz"
export BIOFEG_ADDON=$kit/biofeg.node
# cuBLAS: the toolkit's lib64, else the Python wheels (nvidia/cu13/lib), user site included.
export LD_LIBRARY_PATH=${CUDA_HOME:-/usr/local/cuda}/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
BIOFEG_PYTHON_SITE_PACKAGES=$(python3 -c 'import site; print(":".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
export BIOFEG_PYTHON_SITE_PACKAGES

{
  echo "kit built from commit $(cat "$kit/commit.txt"), tree at $(git rev-parse HEAD 2>/dev/null || echo '?')"
  nvidia-smi -L
  node -e "console.log(JSON.stringify(require(process.env.BIOFEG_ADDON).info()))"
} 2>&1 | tee "$out/device.txt"

rc=0
st=$out/selftests.txt
echo "== selftest (cuBLAS)" | tee "$st"
timeout 120 "$kit/biofeg_cuda_selftest" > "$out/st.tmp" 2>&1 || rc=1
head -2 "$out/st.tmp"; grep -E "^FAIL" "$out/st.tmp"; tail -1 "$out/st.tmp"
# Without cuBLAS the first run would silently test the fallback twice.
grep -q "^gemm engine: cublas" "$out/st.tmp" || { echo "gpu-check: cuBLAS was not loaded"; rc=1; }
cat "$out/st.tmp" >> "$st"
echo "== selftest (hand-written GEMM, BIOFEG_CUBLAS=off)" | tee -a "$st"
BIOFEG_CUBLAS=off timeout 120 "$kit/biofeg_cuda_selftest" > "$out/st.tmp" 2>&1 || rc=1
grep -E "^FAIL" "$out/st.tmp"; tail -1 "$out/st.tmp"
cat "$out/st.tmp" >> "$st" && rm -f "$out/st.tmp"

echo "== vitest, cuda variants"
timeout 240 node node_modules/vitest/vitest.mjs run --project main test/ops.test.ts test/gan-step.test.ts test/bert.test.ts \
  test/bert-bf16.test.ts test/cli-precision.test.ts test/cuda-cli.test.ts -t cuda --reporter=default --reporter=json \
  --outputFile="$out/gpu-tests.json" > "$out/gpu-tests.txt" 2>&1 || rc=1
grep -E "FAIL|✗|×|Tests " "$out/gpu-tests.txt" | head -40

echo "== bench:kernels --device cuda"
# GPU_CHECK_BENCH_ARGS=--smoke rehearses the script on cuemu (a kit built from build-emu/).
BIOFEG_BENCH_RESULTS=$out timeout 200 node --import tsx bench/kernels.ts --device cuda ${GPU_CHECK_BENCH_ARGS:-} \
  > "$out/bench.txt" 2>&1 || rc=1
cat "$out/bench.txt"

# The hand-written GEMM (what runs where cuBLAS is absent) at the same shapes.
echo "== bench:kernels --device cuda --only gemm, BIOFEG_CUBLAS=off" | tee -a "$out/bench.txt"
BIOFEG_CUBLAS=off BIOFEG_BENCH_RESULTS=$out timeout 100 node --import tsx bench/kernels.ts --device cuda --only gemm \
  ${GPU_CHECK_BENCH_ARGS:-} >> "$out/bench.txt" 2>&1 || rc=1
tail -16 "$out/bench.txt"

# Last, as it takes longest: BERT-base encode and bi-encoder train step in bf16 beside PyTorch
# (HF BertModel under autocast) on the same GPU.
echo "== bench:bert --device cuda --precision bf16 --sizes ${GPU_CHECK_BERT_SIZES:-base}" | tee -a "$out/bench.txt"
BIOFEG_BENCH_RESULTS=$out timeout 200 node --import tsx bench/bert.ts --device cuda --precision bf16 \
  --sizes "${GPU_CHECK_BERT_SIZES:-base}" --rounds 1 --iters 10 --min-time 1 >> "$out/bench.txt" 2>&1 || rc=1
tail -8 "$out/bench.txt"
echo "gpu-check: exit $rc"
exit $rc
