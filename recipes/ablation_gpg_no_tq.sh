#!/usr/bin/env bash
# Paper Table 3, GPG row: format + accuracy only (no thinking-quality term, no judge).
# Usage: bash recipes/ablation_gpg_no_tq.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment gpg "$@"
