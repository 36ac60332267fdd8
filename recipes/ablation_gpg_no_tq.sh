#!/usr/bin/env bash
# Paper Table 3, GPG row: format + accuracy only (no thinking-quality term, no judge).
# Usage: bash recipes/ablation_gpg_no_tq.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=gpg "$@"
