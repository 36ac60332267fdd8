#!/usr/bin/env bash
# Paper Table 2, FAD-TQ row: Qwen2.5-VL-3B, GPG, format + accuracy + accuracy × thinking quality (η = 0.5), 32 × 8, 10 epochs; 4 GPUs actor+rollout, 1 GPU judge.
# Usage: bash recipes/train_fadtq_qwen2_5_vl_3b.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=fadtq "$@"
