#!/usr/bin/env bash
# The whole BioFEG schedule at MedMentions' size, extrapolated from one measured run (issue 21):
# bench/schedule.ts makes a synthetic dataset (src/data/synthetic.ts), runs every pipeline stage
# once at the original's settings (one epoch each), and prints each stage's time at scale 1 with
# the original's epochs (GAN 80), in hours, and how it got there. Results land in
# $BIOFEG_BENCH_RESULTS (default bench/results/) as schedule-<device>-<precision>.json.
#   bash scripts/schedule-gpu.sh                  on a GPU machine (gpu-check.sh runs it): BERT-base,
#                                                 bf16, 0.5% of the mentions and 2% of the entities
#   bash scripts/schedule-gpu.sh --device cpu --scale 0.002 --bert-model tiny --max-length 32
# Any flag of bench/schedule.ts may be given; without flags the GPU defaults below apply.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- --device cuda --precision bf16 --bert-model base --scale 0.005 --entity-scale 0.02 --budget-s "${SCHEDULE_BUDGET_S:-240}"
fi
exec node --import tsx bench/schedule.ts "$@"
