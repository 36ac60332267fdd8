#!/usr/bin/env bash
# Paper Table 2, zero-shot row: moonshotai/Kimi-VL-A3B-Thinking on the Pair3C test set (vLLM, greedy).
# Usage: bash recipes/baseline_kimi_vl_a3b_thinking.sh [fadtq eval options]   (MODEL_PATH overrides the hub id)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline kimi_vl_a3b_thinking moonshotai/Kimi-VL-A3B-Thinking "$@"
