#!/usr/bin/env bash
# Paper Table 2, zero-shot row: Qwen/Qwen2.5-VL-3B-Instruct on the Pair3C test set (vLLM, greedy).
# The policy before RL; same image grid as training.
# Usage: bash recipes/baseline_qwen2_5_vl_3b.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline qwen2_5_vl_3b Qwen/Qwen2.5-VL-3B-Instruct 1  "$@"
