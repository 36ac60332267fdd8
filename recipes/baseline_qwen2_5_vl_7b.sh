#!/usr/bin/env bash
# Paper Table 2, zero-shot row: Qwen/Qwen2.5-VL-7B-Instruct on the Pair3C test set (vLLM, greedy).
# Usage: bash recipes/baseline_qwen2_5_vl_7b.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline qwen2_5_vl_7b Qwen/Qwen2.5-VL-7B-Instruct 1  "$@"
