#!/usr/bin/env bash
# Paper reward ablation, −efficiency: relevance only (η = 0).
# Usage: bash recipes/ablation_no_efficiency.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=no_efficiency "$@"
