#!/usr/bin/env bash
# Paper reward ablation, −efficiency: relevance only (η = 0).
# Usage: bash recipes/ablation_no_efficiency.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment no_efficiency "$@"
