#!/usr/bin/env bash
# LR-IAD (second seed paper) on VisA: GRPO with KL loss, format + accuracy + focal rare-class reward, binary question, no judge; 4 GPUs.
# Data (training pairs at VisA's own defect share): fadtq build-data visa --root /data/VisA --out data/visa_natural --balance natural
# Usage: bash recipes/lr_iad_visa.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh; TRAIN_FILES / VAL_FILES default to data/visa_natural/)
natural_data="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/data/visa_natural"
TRAIN_FILES="${TRAIN_FILES:-$natural_data/train.parquet}"
VAL_FILES="${VAL_FILES:-$natural_data/test.parquet}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment lr_iad_visa "$@"
