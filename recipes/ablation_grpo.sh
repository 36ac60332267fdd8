#!/usr/bin/env bash
# Paper Table 3, GRPO row: same reward with GRPO (clipped ratio, reference model, KL loss 0.01).
# Usage: bash recipes/ablation_grpo.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=grpo "$@"
