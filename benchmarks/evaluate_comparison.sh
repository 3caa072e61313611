#!/usr/bin/env bash
# Evaluates the attention-comparison models and the NL-means baseline on the colour validation photos.
# Usage: bash benchmarks/evaluate_comparison.sh [RUNS]   (after train_models.sh and make_validation_sets.py)
set -euo pipefail
RUNS=${1:-runs}
for kind in mdta glmha linear_sa gsa stt; do
  effrestore eval "$RUNS/compare-$kind/model.safetensors" --data "$RUNS/validation/color" --sigma 15,25,50 \
    --no-ssim --json > "$RUNS/compare-$kind/eval.json"
done
effrestore eval "$RUNS/compare-mdta/model.safetensors" --data "$RUNS/validation/color" --sigma 15,25,50 \
  --baseline nlm --no-ssim --json > "$RUNS/baseline-nlm-color.json"
