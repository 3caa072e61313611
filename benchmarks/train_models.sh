#!/usr/bin/env bash
# Trains the attention-variant comparison and the shipped models, one after another, resumably:
# re-running this script continues every unfinished run where it stopped.
# Usage: bash benchmarks/train_models.sh [DATA_ROOT] [RUNS]   (defaults: ../shared/data runs)
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs}
THREADS=${THREADS:-1}

train() {  # train OUT ARGS...: start, or resume when a state exists, or skip when finished
  local out=$1; shift
  if [ -f "$out/model.safetensors" ]; then echo "done: $out"; return; fi
  local resume=()
  [ -f "$out/train_state.safetensors" ] && resume=(--resume)
  effrestore train --out "$out" --threads "$THREADS" "${resume[@]}" "$@"
}

# 1. Attention comparison: restormer-xs, colour blind denoising, one equal budget per kind.
for kind in mdta glmha linear_sa gsa stt; do
  train "$RUNS/compare-$kind" --model restormer-xs --attention "$kind" --data "$DATA/live1" --synthetic 0.2 \
    --steps 600 --crop 48 --batch 8 --lr 1e-3
done

# 2. Shipped models (longer budget).
train "$RUNS/denoise-color" --model restormer-xs --attention glmha --data "$DATA/live1" --synthetic 0.2 \
  --steps 3000 --crop 48 --batch 8 --lr 1e-3
train "$RUNS/denoise-gray" --model restormer-xs --attention glmha --channels 1 --data "$DATA/train400" \
  --steps 3000 --crop 48 --batch 8 --lr 1e-3
train "$RUNS/denoise-gray-ft" --init "$RUNS/denoise-gray/model.safetensors" --model restormer-xs \
  --attention glmha --channels 1 --data "$DATA/train400" --steps 6000 --crop 64 --batch 8 --lr 5e-4
