#!/usr/bin/env bash
# Paper reward ablation, −relevance: conciseness only (η = 1).
# Usage: bash recipes/ablation_no_relevance.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment no_relevance "$@"
