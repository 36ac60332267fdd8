#!/usr/bin/env bash
# FAD-TQ with the judge as an external vLLM server (scripts/serve_judge.sh; FADTQ_JUDGE_URL).
# Usage: bash recipes/train_fadtq_external_judge.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment external_judge "$@"
