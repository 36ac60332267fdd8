#!/usr/bin/env bash
# Paper Table 2, zero-shot row: moonshotai/Kimi-VL-A3B-Instruct on the Pair3C test set (vLLM, greedy).
# Custom model code: --trust-remote-code; context capped so the KV cache fits one GPU.
# Usage: bash recipes/baseline_kimi_vl_a3b_instruct.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline kimi_vl_a3b_instruct moonshotai/Kimi-VL-A3B-Instruct 1 --trust-remote-code --max-model-len 32768 "$@"
