#!/usr/bin/env bash
# GPG paper's α = B/(B−M) gradient correction on top of FAD-TQ.
# Usage: bash recipes/ablation_gpg_alpha.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment gpg_alpha "$@"
