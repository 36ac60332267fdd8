#!/usr/bin/env bash
# η sweep of r_tq = η·conciseness + (1−η)·relevance: runs η = 0.25 and 0.75 one after the other
# (η = 0, 0.5, 1 are ablation_no_efficiency.sh, train_fadtq_qwen2_5_vl_3b.sh, ablation_no_relevance.sh).
# Usage: bash recipes/ablation_eta_sweep.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
set -euo pipefail
for experiment in eta_0_25 eta_0_75; do
    fadtq train "+experiment=$experiment" "$@"
done
