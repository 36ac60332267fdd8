#!/usr/bin/env bash
# Paper Table 2, zero-shot row: openbmb/MiniCPM-V-4 on the Pair3C test set (vLLM, greedy).
# Custom model code: --trust-remote-code.
# Usage: bash recipes/baseline_minicpm_v_4.sh [fadtq eval options]   (environment: see _baseline.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_baseline.sh"
run_baseline minicpm_v_4 openbmb/MiniCPM-V-4 1 --trust-remote-code "$@"
