#!/usr/bin/env bash
# Paper Table 2, zero-shot row: Qwen/Qwen2.5-VL-32B-Instruct on the Pair3C test set (vLLM, greedy).
# Usage: bash recipes/baseline_qwen2_5_vl_32b.sh [fadtq eval options]   (MODEL_PATH overrides the hub id)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline qwen2_5_vl_32b Qwen/Qwen2.5-VL-32B-Instruct "$@"
