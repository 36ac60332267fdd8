#!/usr/bin/env bash
# Paper Table 3, GRPO row: same reward with GRPO (clipped ratio, reference model, KL loss 0.01).
# Usage: bash recipes/ablation_grpo.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment grpo "$@"
