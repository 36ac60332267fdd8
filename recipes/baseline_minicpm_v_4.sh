#!/usr/bin/env bash
# Paper Table 2, zero-shot row: openbmb/MiniCPM-V-4 on the Pair3C test set (vLLM, greedy).
# Usage: bash recipes/baseline_minicpm_v_4.sh [fadtq eval options]   (MODEL_PATH overrides the hub id)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline minicpm_v_4 openbmb/MiniCPM-V-4 "$@"
