#!/usr/bin/env bash
# Paper reward ablation, −relevance: conciseness only (η = 1).
# Usage: bash recipes/ablation_no_relevance.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=no_relevance "$@"
