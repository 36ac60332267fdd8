#!/usr/bin/env bash
# Paper Table 2, zero-shot row: google/gemma-3n-E4B-it on the Pair3C test set (vLLM, greedy).
# Usage: bash recipes/baseline_gemma_3n_e4b.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline gemma_3n_e4b google/gemma-3n-E4B-it 1  "$@"
