#!/usr/bin/env bash
# LR-IAD's focal rare-class reward on top of FAD-TQ (second seed paper).
# Usage: bash recipes/ablation_focal.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment focal "$@"
