#!/usr/bin/env bash
# Paper Table 2, zero-shot row: moonshotai/Kimi-VL-A3B-Thinking on the Pair3C test set (vLLM, greedy).
# A long-reasoning model: room for 8k new tokens; custom model code.
# Usage: bash recipes/baseline_kimi_vl_a3b_thinking.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline kimi_vl_a3b_thinking moonshotai/Kimi-VL-A3B-Thinking 1 --trust-remote-code --max-model-len 32768 --max-new-tokens 8192 "$@"
