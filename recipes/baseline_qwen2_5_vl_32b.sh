#!/usr/bin/env bash
# Paper Table 2, zero-shot row: Qwen/Qwen2.5-VL-32B-Instruct on the Pair3C test set (vLLM, greedy).
# About 65 GB of bf16 weights: two GPUs by default (FADTQ_BASELINE_TP=4 on 48 GB cards).
# Usage: bash recipes/baseline_qwen2_5_vl_32b.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline qwen2_5_vl_32b Qwen/Qwen2.5-VL-32B-Instruct 2  "$@"
