#!/usr/bin/env bash
# The GPU verification in one command, for a session lent a device machine. Prepare here with
# `bash scripts/gpu-kit.sh`, then run there from the repo root with .gpu-kit carried, e.g. the
# device tool's run with command "bash scripts/gpu-check.sh", carry [".gpu-kit"], timeout_s 660.
# The steps run in order of value under one budget (GPU_CHECK_BUDGET_S, default 600 s): each has
# its own timeout, cut to what is left, and a step that cannot get its minimum is skipped (said in
# the output). In order: the CUDA selftest (every op against the reference backend, f32 and bf16)
# with cuBLAS; bench:bert --shapes real (issue 21: BERT-base seq 128 train at batch 64 and 128,
# hard negatives 4 x 64, encode 256; seq/s, MFU, memory beside HF BertModel eager and compiled);
# bench:gan --device cuda (issue 21: the GAN step, 5 critic + 1 generator, at BERT-base batch 64, E
# in bf16, beside PyTorch under autocast bf16 on the same GPU; about a minute, the peer's two
# processes most of it); scripts/schedule-gpu.sh (issue 21: every pipeline stage once on a small synthetic dataset (0.5% of
# the mentions, 2% of the entities), extrapolated to MedMentions and the original's epochs); the cuda variants of
# the vitest suites; the NCCL tests; bench:serve --devices cuda (issue 18); bench:kernels on cuda; bench:bert at batch 8 beside PyTorch (the 2026-11-26
# run's shapes); the selftest with the hand-written GEMM (BIOFEG_CUBLAS=off). GPU_CHECK_EXTRA=1 adds
# bench:kernels' GEMMs with BIOFEG_CUBLAS=off (output in check.txt only). Everything lands in $OUT,
# at most 8 files (what the device tool brings back): check.txt (all output; it opens with the
# device and addon lines, and holds the selftests' listings and the NCCL tests' report),
# bert-real-cuda-bf16.json, gan-cuda.json, schedule-cuda-bf16.json, gpu-tests.json,
# serve-cuda-<cpu>-bf16.json, kernels-cuda.json, bert-cuda-bf16-base.json; copy them into
# bench/results/<device>/ afterwards.
# GPU_CHECK_KIT=DIR uses another kit folder (a rehearsal kit, say). GPU_CHECK_ONLY=REGEX runs only
# the steps whose name matches (a rerun of one step, or a cuemu rehearsal of a new one).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/biofeg-gpu-out}
mkdir -p "$out"
kit=$(cd "${GPU_CHECK_KIT:-.gpu-kit}" 2>/dev/null && pwd || echo "$PWD/.gpu-kit")
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

exec > >(tee -a "$out/check.txt") 2>&1
{
  echo "kit built from commit $(cat "$kit/commit.txt"), tree at $(git rev-parse HEAD 2>/dev/null || echo '?')"
  nvidia-smi -L
  node -e "console.log(JSON.stringify(require(process.env.BIOFEG_ADDON).info()))"
} 2>&1

rc=0
budget=${GPU_CHECK_BUDGET_S:-600}
skipped=()
# step NAME TIMEOUT MIN CMD...: CMD under min(TIMEOUT, budget left); skipped below MIN seconds left.
step() {
  local name=$1 want=$2 min=$3 left t code
  shift 3
  if [ -n "${GPU_CHECK_ONLY:-}" ] && ! [[ $name =~ $GPU_CHECK_ONLY ]]; then
    echo "== $name: not selected (GPU_CHECK_ONLY=$GPU_CHECK_ONLY)"
    return 0
  fi
  left=$((budget - SECONDS))
  if [ "$left" -lt "$min" ]; then
    echo "== $name: SKIPPED (${left}s of the ${budget}s budget left, needs ${min}s)"
    skipped+=("$name")
    return 0
  fi
  t=$((want < left ? want : left))
  echo "== $name (timeout ${t}s; ${left}s of the budget left)"
  local t0=$SECONDS
  # A shell function gets its limit as step_t (timeout runs programs only).
  if declare -F "$1" > /dev/null; then step_t=$t "$@"; else timeout "$t" "$@"; fi
  code=$?
  echo "== $name: exit $code after $((SECONDS - t0))s"
  [ "$code" -eq 0 ] || rc=1
}
smoke=0
case " ${GPU_CHECK_BENCH_ARGS:-} " in *" --smoke "*) smoke=1 ;; esac

selftest() {
  timeout "${step_t:-120}" "$kit/biofeg_cuda_selftest" > "$out/st.tmp" 2>&1
  local code=$?
  head -2 "$out/st.tmp"; grep -E "^FAIL" "$out/st.tmp"; tail -1 "$out/st.tmp"
  # The whole listing goes into check.txt (this script's output): at most 8 files come back.
  echo "-- selftest output:"; cat "$out/st.tmp"
  grep -q "^gemm engine: cublas" "$out/st.tmp" && st_cublas=1 || st_cublas=0
  rm -f "$out/st.tmp"
  return $code
}
cublas_selftest() {
  selftest || return 1
  # Without cuBLAS the run would silently test the fallback.
  [ "$st_cublas" = 1 ] || { echo "gpu-check: cuBLAS was not loaded"; return 1; }
}
step "selftest (cuBLAS)" 90 20 cublas_selftest

# Issue 21, item 1. torch.compile takes a minute or more per BERT-base shape: only the bars' shapes.
BIOFEG_BENCH_RESULTS=$out step "bench:bert --shapes real --device cuda" 300 120 \
  node --import tsx bench/bert.ts --shapes real --device cuda --precision bf16 --iters 10 --min-time 1 \
  --compile-only train64,encode256 --child-timeout-s 130 ${GPU_CHECK_BENCH_ARGS:-}

# Issue 21, item 3. --smoke (the cuemu rehearsal) shrinks it to one tiny step without the peer.
BIOFEG_BENCH_RESULTS=$out step "bench:gan --device cuda" 120 60 \
  node --import tsx bench/gan.ts --device cuda ${GPU_CHECK_BENCH_ARGS:-}

# Issue 21, item 4: the schedule's own budget ends the pipeline in time to extrapolate what ran.
if [ "$smoke" = 1 ]; then
  schedule_args=(--device cuda --bert-model tiny --scale 0.002 --entity-scale 0.002 --max-length 16 --hard-top-k 4)
else
  schedule_args=(--device cuda --precision bf16 --bert-model base --scale 0.005 --entity-scale 0.02)
fi
[ -f "$kit/vocab.txt" ] && schedule_args+=(--vocab "$kit/vocab.txt")
schedule_left=$((budget - SECONDS < 240 ? budget - SECONDS : 240))
BIOFEG_BENCH_RESULTS=$out step "schedule-gpu.sh" 240 90 \
  bash scripts/schedule-gpu.sh "${schedule_args[@]}" --budget-s $((schedule_left - 45)) --out-dir /tmp/biofeg-schedule

step "vitest, cuda variants" 240 120 node node_modules/vitest/vitest.mjs run --project main test/ops.test.ts \
  test/gan-step.test.ts test/bert.test.ts test/bert-bf16.test.ts test/cli-precision.test.ts test/cuda-cli.test.ts \
  test/cuda-syncs.test.ts -t cuda \
  --reporter=default --reporter=json --outputFile="$out/gpu-tests.json"

# Issue 23: NCCL through the pip wheel's libnccl (BIOFEG_PYTHON_SITE_PACKAGES above): a single-rank
# communicator's all-reduce and a bucketed backward on the side stream (2 GPUs: the 2-rank case).
# (Its report stays in check.txt: the device tool brings back at most 8 files.)
step "vitest, NCCL" 60 30 node node_modules/vitest/vitest.mjs run --project main test/comm/nccl.test.ts

# Issue 18, item 5: bench:serve's CUDA rows (biofeg serve in bf16 on the GPU, loopback autocannon;
# the onnx peer is CPU-only and does not run).
if [ "$smoke" = 1 ]; then serve_args=(--sizes tiny --concurrency 1,16 --seconds 1); else serve_args=(--sizes tiny,base --concurrency 1,16,64 --seconds 3); fi
BIOFEG_BENCH_RESULTS=$out step "bench:serve --devices cuda" 90 40 \
  node --import tsx bench/serve.ts --devices cuda --precision bf16 --peer none "${serve_args[@]}"

# GPU_CHECK_BENCH_ARGS=--smoke rehearses the script on cuemu (a kit built from build-emu/).
BIOFEG_BENCH_RESULTS=$out step "bench:kernels --device cuda" 200 60 \
  node --import tsx bench/kernels.ts --device cuda ${GPU_CHECK_BENCH_ARGS:-}

# BERT-base encode and bi-encoder train step at batch 8 in bf16 beside PyTorch (the earlier run's shapes).
BIOFEG_BENCH_RESULTS=$out step "bench:bert --device cuda --precision bf16 --sizes ${GPU_CHECK_BERT_SIZES:-base}" 200 60 \
  node --import tsx bench/bert.ts --device cuda --precision bf16 --sizes "${GPU_CHECK_BERT_SIZES:-base}" --rounds 1 --iters 10 --min-time 1

BIOFEG_CUBLAS=off step "selftest (hand-written GEMM, BIOFEG_CUBLAS=off)" 120 30 selftest

# The hand-written GEMM (what runs where cuBLAS is absent) at bench:kernels' shapes; its JSON would be a 9th file.
if [ "${GPU_CHECK_EXTRA:-0}" = 1 ]; then
  BIOFEG_CUBLAS=off BIOFEG_BENCH_RESULTS=/tmp/biofeg-extra step "bench:kernels --only gemm, BIOFEG_CUBLAS=off" 100 40 \
    node --import tsx bench/kernels.ts --device cuda --only gemm ${GPU_CHECK_BENCH_ARGS:-}
fi
[ ${#skipped[@]} -eq 0 ] || echo "gpu-check: skipped for the budget: ${skipped[*]}"
echo "gpu-check: exit $rc after ${SECONDS}s"
exit $rc
