#!/usr/bin/env bash
# GPG paper's α = B/(B−M) gradient correction on top of FAD-TQ.
# Usage: bash recipes/ablation_gpg_alpha.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=gpg_alpha "$@"
